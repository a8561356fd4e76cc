# make repro: set up .venv and run the pipeline.  make test: set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# Stages call `python`: make it the project's.
export PATH := $(BIN):$(PATH)

.PHONY: setup repro test test-kernels lint params bench clean

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
# thread (ATen without SIMD, oneDNN capped at AVX2): a tolerance tuned to one machine's rounding
# fails here, not on a user's machine.
test-kernels: setup
	OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=default DNNL_MAX_CPU_ISA=AVX2 pytest -q -m numeric

lint: setup
	ruff check clar stages tests
	ruff format --check clar stages tests

# Rewrite params.yaml from conf/ (what `dvc exp run` does before it runs).
params: setup
	python -m clar params

bench: setup
	python -m clar.bench $(ARGS)

clean:
	rm -rf data runs reports/*.png reports/*.svg
