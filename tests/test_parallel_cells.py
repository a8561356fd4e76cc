"""Grid cells in parallel through DVC's own locking (docs/gpus.md, "Cells in parallel"): two
cells of the tiny profile run at once, each started by `dvc repro --single-item` from an xargs
slot, and the `dvc repro` after them trains neither again."""

import contextlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from dvc.lock import make_lock
from test_pipeline import new_project, sh

from clar import layout, runs

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
# docs/gpus.md's commands, word for word (checked below): the data every cell reads, then every
# cell, $GPUS at a time, each on its slot's device and waiting for DVC's lock instead of failing.
DATA = "dvc repro features"
CELLS = """dvc stage list --name-only | grep -E '^(train|pretrain|augmentation-study)@' \\
  | xargs -P "$GPUS" --process-slot-var=SLOT -I{} \\
    sh -c 'CUDA_VISIBLE_DEVICES=$SLOT dvc --wait-for-lock repro --single-item {} || exit 1'"""
# One data set and one objective: the pipeline then has exactly these two cells, each a single
# run of the smallest network for one epoch.
OVERRIDES = [
    "profile=tiny",
    "loss=supervised",
    "data.names=[speech]",
    "augmentation_study.datasets=[]",
    "datasets.speech.clip_seconds=0.5",
    "train.width=0.0625",
    "train.epochs=1",
    "train.warmup_epochs=0",
    "evaluate.epochs=1",
    "grid.fractions.spectrogram=[100]",
]
INPUTS = ("raw", "spectrogram")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git + DVC project with this repository's pipeline, cut down to two grid cells."""
    return new_project(tmp_path_factory.mktemp("cells"), OVERRIDES)


def wait_for_processes(prefix: str, count: int, timeout: float = 60) -> None:
    """Return once ``count`` processes under this one have an argument starting with ``prefix``."""
    deadline = time.monotonic() + timeout
    while True:
        found = 0
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):  # one that ended while listed
                found += any(arg.startswith(prefix) for arg in child.cmdline())
        if found >= count:
            return
        assert time.monotonic() < deadline, f"fewer than {count} processes ran {prefix}..."
        time.sleep(0.1)


def span(root: Path, input: str) -> tuple[float, float]:
    """When the cell's stage process started and ended, from the wall time it records."""
    path = root / layout.timing(runs.cell_folder("speech", input, "supervised"))
    return path.stat().st_mtime - json.loads(path.read_text())["seconds"], path.stat().st_mtime


def test_readme_gives_these_commands():
    readme = (ROOT / "docs" / "gpus.md").read_text()
    assert DATA in readme and CELLS in readme


def test_cells_run_at_once_and_repro_reuses_them(project, monkeypatch):
    root = project
    assert sh(root, "dvc", "stage", "list", "--name-only").split() == [
        "sources@speech",
        "prepare@speech",
        "features@speech",
        *(f"train@speech-{input}-supervised" for input in INPUTS),
        "report",
    ]
    sh(root, "bash", "-c", DATA)
    monkeypatch.setenv("GPUS", "2")
    # Another DVC command holds the workspace while both workers start, and for longer than the
    # 3 s DVC retries for by default: the workers wait for it (without --wait-for-lock, both
    # stop on "Unable to acquire lock").
    with ThreadPoolExecutor(1) as pool:
        with make_lock(str(root / ".dvc/tmp/lock")):
            workers = pool.submit(sh, root, "bash", "-c", CELLS)
            wait_for_processes("train@", 2)
            time.sleep(6)
        log = workers.result()
    assert log.count("Running stage") == 2, log
    for input in INPUTS:
        assert log.count(f"Running stage 'train@speech-{input}-supervised'") == 1, log
    (start_a, end_a), (start_b, end_b) = (span(root, input) for input in INPUTS)
    assert max(start_a, start_b) < min(end_a, end_b), "the two cells ran one after the other"

    written = {p: p.stat().st_mtime_ns for p in (root / "runs").rglob("*") if p.is_file()}
    log = sh(root, "dvc", "repro")
    # The report, and the sources stage, which looks at the data set's files every time.
    ran = re.findall(r"Running stage '([^']+)'", log)
    assert ran == ["sources@speech", "report"], log
    for input in INPUTS:
        assert f"Stage 'train@speech-{input}-supervised' didn't change, skipping" in log
    assert {p: p.stat().st_mtime_ns for p in written} == written
    results = (root / "reports/results.csv").read_text()
    assert ",speech,raw,supervised," in results and ",speech,spectrogram,supervised," in results
