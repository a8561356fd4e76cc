# make repro: set up .venv and run the pipeline.  make test: set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# Stages call `python`: make it the project's.
export PATH := $(BIN):$(PATH)

.PHONY: setup repro test test-kernels lint params bench gpu-check gpu-setup wheelhouse clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

repro: setup
	dvc repro

test: setup
	ruff check clar stages tests
	pytest -q

# The tests that compare two floating-point computations, again on other CPU kernels and one
# thread (ATen and oneDNN at AVX2): a tolerance tuned to one machine's rounding fails here, not
# on a user's machine. Inductor's C++ is built for the machine's own instruction set whatever
# ATEN_CPU_CAPABILITY says, so the compiled-training test is left out: under a forced ATen path
# its float64 kernels did not compile (default) or gave NaN (avx2) on an AVX-512 machine.
test-kernels: setup
	OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 pytest -q -m "numeric and not inductor"

lint: setup
	ruff check clar stages tests
	ruff format --check clar stages tests

# Rewrite params.yaml from conf/ (what `dvc exp run` does before it runs).
params: setup
	python -m clar params

bench: setup
	python -m clar.bench $(ARGS)

# The GPU check (python -m clar.gpucheck): on a GPU node, with the node's own torch and, where
# `make wheelhouse` left one, the check's wheels installed first without an index.
OUT ?= gpucheck
WHEELHOUSE ?= wheelhouse
PIP_ARGS ?=
gpu-check:
	if [ -d $(WHEELHOUSE)/check ]; then $(MAKE) gpu-setup SET=check; fi
	$(PYTHON) -m clar.gpucheck $(OUT) $(ARGS)

# Install a wheelhouse set (check: the GPU check's; full: the pipeline's) with no index: only
# what is missing, the node's torch kept.
SET ?= full
gpu-setup:
	$(PYTHON) -m pip install $(PIP_ARGS) --no-index --find-links $(WHEELHOUSE)/$(SET) -r $(WHEELHOUSE)/$(SET)/requirements.txt

# On a machine with network: the wheels of both sets for the node's Python and platform.
PYTHON_VERSION ?= 3.12
PLATFORM ?= manylinux_2_28_x86_64
wheelhouse:
	$(PYTHON) -m clar.wheelhouse --python-version $(PYTHON_VERSION) --platform $(PLATFORM) --dest $(WHEELHOUSE)

clean:
	rm -rf data runs reports/*.png reports/*.svg
