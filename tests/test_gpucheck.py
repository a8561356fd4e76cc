"""The GPU check's dry run on the CPU (every part, tiny sizes), so the script cannot rot between
GPU slots; a part over its limit is killed alone; the planner reads the check's MFU; the
wheelhouse's pip commands are well formed (nothing is downloaded)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clar import wheelhouse
from clar.costs import encoder_flops
from clar.encoders import ENCODERS
from clar.errors import ClarError
from clar.gpucheck.cell import paper_params
from clar.gpucheck.checks import CHECKS
from clar.gpucheck.runner import LIMITS
from clar.grid import accepts
from clar.objectives import OBJECTIVES
from clar.plan import PEAK_TFLOPS, plan_runs, throughput

INPUTS, OBJECTIVE_NAMES = ENCODERS.names(), OBJECTIVES.names()

ROOT = Path(__file__).resolve().parents[1]


def gpucheck(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clar.gpucheck", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# The dry run checks that every part works, not how fast: its budget is generous, so that a
# busy or slow host cannot push a part over its limit (the limits have their own test).
DRY_RUN_BUDGET_S = 1800


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("gpucheck")
    args = ("--device", "cpu", "--keep-work", "--budget-s", str(DRY_RUN_BUDGET_S))
    return gpucheck(str(out), *args, timeout=DRY_RUN_BUDGET_S + 120), out


def test_the_dry_run_runs_every_part_and_writes_every_figure(dry_run):
    done, out = dry_run
    assert done.returncode == 0, done.stdout + done.stderr
    check = json.loads((out / "gpucheck.json").read_text())
    assert list(check["parts"]) == list(LIMITS)
    assert {p["status"] for p in check["parts"].values()} == {"ok"}
    assert check["device"] == "cpu" and check["env"]["torch"] == torch.__version__
    assert [c["name"] for c in check["checks"]] == list(CHECKS)
    assert {c["status"] for c in check["checks"]} == {"pass"}
    # The bench's format, eager steps of every input and objective, one compiled step.
    bench = check["bench"]
    rows = [(r["input"], r["objective"], r["compiled"]) for r in bench["steps"]]
    eager = [(i, o, False) for i in INPUTS for o in OBJECTIVE_NAMES if accepts(o, i)]
    assert rows == [*eager, ("spectrogram", "supervised", True)]
    for row in bench["steps"]:
        assert sum(row["parts"].values()) <= row["step_seconds"] * 1.05 and row["tflops"] > 0
    # The cell: a warm-up run and two measured ones, FLOPs as the planner counts them.
    train = check["train"]
    assert [r["epochs"] for r in train["runs"]] == [1, 1, 2]
    assert train["measured_steps"] == 2
    if "note" not in train:  # a host busy enough can hide two tiny steps
        features = paper_params().features
        per_view = encoder_flops("spectrogram", 0.0625, 4000, 16000, features)
        assert train["flops"] == 3 * per_view * 2 * 8 * 2  # 3x forward, 2 steps x 8 clips x 2 views
        bench_mfu = train["predicted"]["bench_mfu"]
        same = [
            r
            for r in bench["steps"]
            if (r["input"], r["objective"], r["compiled"]) == ("spectrogram", "hybrid", False)
        ]
        assert bench_mfu["tflops"] == same[0]["tflops"]
        assert bench_mfu["ratio"] == pytest.approx(
            train["measured_seconds"] / (train["flops"] / (bench_mfu["tflops"] * 1e12)), rel=1e-6
        )
    fe = check["features_eval"]
    assert fe["features_device"]["written"] == ["test", "valid", "train"]
    assert fe["evaluation"]["head_epochs"] == 2 and 0 <= fe["evaluation"]["accuracy"] <= 1
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# GPU check: cpu, ") and "| bench_compiled | ok |" in summary
    assert "## One grid cell against the planner" in summary
    for name in LIMITS:
        assert (out / "logs" / f"{name}.log").exists()
    assert (out / "work" / "store").is_dir()  # --keep-work


def test_a_part_over_its_limit_is_killed_and_the_others_still_run(tmp_path):
    done = gpucheck(
        str(tmp_path), "--device", "cpu", "--parts", "checks,features_eval", "--limit", "checks=2"
    )
    assert not (tmp_path / "work").exists()  # the generated clips and features are gone
    assert done.returncode == 1
    check = json.loads((tmp_path / "gpucheck.json").read_text())
    parts = check["parts"]
    assert list(parts) == ["env", "checks", "features_eval"]
    assert parts["checks"]["status"] == "timeout" and parts["checks"]["seconds"] < 2 + 5 + 3
    assert parts["env"]["status"] == parts["features_eval"]["status"] == "ok"
    # What the killed part had not reached is listed, not left out.
    assert [c["name"] for c in check["checks"]] == list(CHECKS)
    assert check["checks"][-1]["status"] == "not run"
    assert "not ok: checks" in done.stdout
    assert "| checks | timeout |" in (tmp_path / "summary.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_without_cuda_the_check_says_so_in_one_line(tmp_path):
    done = gpucheck(str(tmp_path / "out"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no CUDA device is visible" in done.stderr
    assert "--device cpu" in done.stderr and not (tmp_path / "out").exists()
    bad = gpucheck(str(tmp_path / "out"), "--device", "cpu", "--limit", "bench=3")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--limit" in bad.stderr


def test_the_planner_reads_the_checks_mfu(tmp_path):
    from test_plan import tiny_params

    params = tiny_params()
    steps = [
        {"input": i, "objective": o, "compiled": compiled, "mfu": 0.6 if compiled else 0.15}
        for i in INPUTS
        for o in OBJECTIVE_NAMES
        if accepts(o, i)
        for compiled in (False, True)
    ]
    bench = {"device": "NVIDIA H100 80GB HBM3", "date": "2026-12-06", "width": 1.0}
    bench |= {"batch": 128, "clip_seconds": 1.0, "source": "make gpu-check", "steps": steps}
    path = tmp_path / "gpucheck.json"
    path.write_text(
        json.dumps({"format": "clar-gpucheck 1", "device": bench["device"], "bench": bench})
    )
    assumed = throughput("h100", tmp_path / "none.json")
    eager, compiled = throughput("h100", path), throughput("h100", path, compiled=True)
    assert "eager steps from make gpu-check on NVIDIA H100" in eager.source
    for run in plan_runs(params):
        assert eager.seconds(run) == pytest.approx(run.flops / (PEAK_TFLOPS["h100"] * 1e12 * 0.15))
        assert compiled.seconds(run) == pytest.approx(assumed.seconds(run) / 2)
    # A check whose bench parts did not run: the assumed MFU, and why.
    path.write_text(
        json.dumps({"format": "clar-gpucheck 1", "device": "NVIDIA H100", "bench": None})
    )
    none = throughput("h100", path)
    assert (
        none.measured_mfu == {}
        and "the last make gpu-check: NVIDIA H100, no eager GPU" in none.source
    )
    # From the command line, as docs/gpus.md runs it; a missing file is one line.
    from clar.__main__ import main

    with pytest.raises(ClarError, match="--mfu-from") as error:
        main(["plan", "profile=tiny", "--mfu-from", str(tmp_path / "missing.json")])
    assert "\n" not in str(error.value)


def test_the_wheelhouse_commands_are_well_formed():
    lock = wheelhouse.pins(ROOT / "requirements.lock")
    check = wheelhouse.commands("check", lock, "3.12", "manylinux_2_28_x86_64", Path("wh"))
    full = wheelhouse.commands("full", lock, "3.12", "manylinux_2_28_x86_64", Path("wh"))
    for commands in (check, full):
        download = commands[0]
        assert download[:4] == [sys.executable, "-m", "pip", "download"]
        for flag in (
            "--only-binary=:all:",
            "--no-deps",
            "--python-version",
            "--platform",
            "--dest",
        ):
            assert flag in download
        assert download[download.index("--python-version") + 1] == "3.12"
        assert (
            download[download.index("--dest") + 1] == "wh/check" if commands is check else "wh/full"
        )
    names = {wheelhouse.name_of(p) for c in check for p in c if "==" in p}
    assert {"pydantic", "pydantic-core", "hydra-core", "omegaconf"} <= names
    assert not names & {"torch", "torchaudio", "dvc"}
    full_names = {wheelhouse.name_of(p) for c in full for p in c if "==" in p}
    assert "dvc" in full_names and not full_names & {"torch", "torchaudio", "triton"}
    assert not any(n.startswith(("nvidia-", "cuda-")) for n in full_names)
    # Every pin is the lock's, so the node installs the versions the tests ran.
    for name in names | full_names:
        assert name in lock
    # The Makefile target runs this module.
    dry = subprocess.run(["make", "-n", "wheelhouse"], cwd=ROOT, capture_output=True, text=True)
    assert "-m clar.wheelhouse" in dry.stdout and "3.12" in dry.stdout
