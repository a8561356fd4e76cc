"""The report stage refuses a set of runs that lacks evaluations the parameters call for (a run
without its evaluation, a cell short of seeds, a fraction never scored), naming them, or with
``report.allow_incomplete`` reports without them and lists them."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from clar import report, runs
from clar.config import Params, parse_params
from clar.errors import ClarError
from clar.report import completeness, files, provenance

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["yes", "no"]


def small_params(allow_incomplete: bool = False) -> Params:
    """The committed params cut to one data set, one input, two seeds, two fractions."""
    raw = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    raw["data"]["names"] = ["speech"]
    raw["grid"].update(inputs=["spectrogram"], fractions={"spectrogram": [10, 100]}, seeds=[0, 1])
    raw["loss"] = {"fraction_trained": ["supervised"], "label_free": ["contrastive"]}
    raw["augmentation_study"].update(datasets=["speech"], combos=["fade", "fade+time_mask"])
    raw["report"] = {"allow_incomplete": allow_incomplete}
    return parse_params(raw)


def write_evaluation(folder: Path, run: runs.Run, fraction: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    runs.write_run_info(folder, {"run": asdict(run), "classes": CLASSES})
    head = {"accuracy": 0.5, "macro_f1": 0.5, "confusion": [[1, 1], [1, 1]]}
    result = {"run": asdict(run), "fraction": fraction, "classes": CLASSES}
    runs.write_evaluation(folder, {**result, "evaluation_head": head, "classifier": None})
    predictions = {
        "clip": np.array(["a", "b", "c", "d"]),
        "label": np.array([0, 0, 1, 1]),
        "predicted": np.array([0, 1, 0, 1]),
        "logits": np.zeros((4, 2), dtype=np.float32),
    }
    runs.write_predictions(folder, fraction, predictions)


@pytest.fixture
def complete(tmp_path) -> Path:
    """A runs folder with every evaluation :func:`small_params` calls for, and the store info."""
    root = tmp_path / "runs"
    for run, experiment, fraction in completeness.expected(small_params()):
        write_evaluation(runs.folder(run, experiment, root), run, fraction)
    (tmp_path / "prepared" / "speech").mkdir(parents=True)
    info = {"kind": "embedded", "classes": CLASSES, "clips": {"train": 2, "valid": 2, "test": 4}}
    (tmp_path / "prepared" / "speech" / "info.json").write_text(json.dumps(info))
    return root


def test_expected_evaluations_are_what_the_stages_train():
    found = {
        (runs.folder(r, e, Path("runs")).as_posix(), f)
        for r, e, f in completeness.expected(small_params())
    }
    cell = "runs/grid/speech/spectrogram"
    assert found == {
        *{(f"{cell}-supervised/f{f}-s{s}", float(f)) for f in (10, 100) for s in (0, 1)},
        # The label-free run trains once per seed and is scored at every fraction.
        *{(f"{cell}-contrastive/s{s}", float(f)) for f in (10, 100) for s in (0, 1)},
        ("runs/augmentation/speech/fade", 100.0),
        ("runs/augmentation/speech/fade+time_mask", 100.0),
    }


def remove_some(root: Path) -> list[str]:
    """Take away a run's evaluation, a whole seed of a cell and a fraction of a label-free run;
    return the files now missing."""
    cell = root / "grid" / "speech"
    gone = [
        cell / "spectrogram-supervised" / "f10-s0" / "evaluation-f10.json",
        cell / "spectrogram-contrastive" / "s1" / "evaluation-f10.json",
        cell / "spectrogram-contrastive" / "s1" / "predictions-f10.npz",
    ]
    for path in gone:
        path.unlink()
    seed = cell / "spectrogram-supervised" / "f100-s1"
    gone += [seed / "evaluation-f100.json", seed / "predictions-f100.npz"]
    for path in seed.iterdir():
        path.unlink()
    seed.rmdir()
    return sorted(str(p) for p in gone)


def test_an_incomplete_set_of_runs_is_refused_naming_what_is_missing(complete, tmp_path):
    assert completeness.check(small_params(), complete) == []
    gone = remove_some(complete)
    out = tmp_path / "reports"
    with pytest.raises(ClarError) as caught:
        report.build(small_params(), complete, tmp_path / "prepared", tmp_path / "features", out)
    message = str(caught.value)
    assert "\n" not in message and "5 evaluation file(s)" in message
    assert "report.allow_incomplete: true" in message
    for path in gone:
        assert path in message, (path, message)
    assert not out.exists()


def test_allow_incomplete_reports_and_marks_what_is_missing(complete, tmp_path):
    gone = remove_some(complete)
    out = tmp_path / "reports"
    params = small_params(allow_incomplete=True)
    report.build(params, complete, tmp_path / "prepared", tmp_path / "features", out)
    assert sorted(json.loads((out / files.RUN_INFO).read_text())["missing"]) == gone
    index = (out / files.INDEX).read_text()
    assert "Incomplete: 5 evaluation file(s) missing" in index
    for path in gone:
        assert f"- `{path}`" in index
    # Every file readable as any new file is under the umask (0644 under 022), none private.
    mask = os.umask(0)
    os.umask(mask)
    modes = {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()}
    assert modes == {0o666 & ~mask}
    assert json.loads((out / files.TIMINGS).read_text()) == {
        "stage_seconds": {},
        "total_seconds": 0,
        "counted": provenance.EVERY_RUN,
    }
