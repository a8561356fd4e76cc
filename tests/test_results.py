"""The long results table collected from run folders, and the per-stage wall times that the
report's front page shows."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clar import runs
from clar.cli import record_stage
from clar.config import Params, parse_params
from clar.layout import timing
from clar.report.provenance import stage_seconds
from clar.report.results import COLUMNS, collect, select, summary

ROOT = Path(__file__).resolve().parents[1]
TEST_IMPORTED = time.time()


def test_record_stage_counts_from_the_start_of_the_process(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    output = Path("runs/grid/speech/raw-supervised")
    output.mkdir(parents=True)
    before = time.time()
    seconds = record_stage(output, "train")
    stage = json.loads(Path("timings/runs/grid/speech/raw-supervised.json").read_text())
    assert stage == {"group": "train", "seconds": seconds}
    # The process started before this module was imported: its imports are in the time.
    assert stage["seconds"] >= time.time() - TEST_IMPORTED - 0.01
    assert stage["seconds"] >= before - TEST_IMPORTED
    # The clock stays out of the output, whose DVC hash must not change from run to run.
    assert list(output.iterdir()) == []


def test_stage_seconds_sums_each_group_in_pipeline_order(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    written = {
        "runs/grid/a/raw-contrastive": ("pretrain", 4.0),
        "runs/grid/a/raw-supervised": ("train", 2.5),
        "runs/grid/b/raw-supervised": ("train", 3.0),
        "runs/augmentation/a": ("augmentation-study", 30.0),
        "data/prepared/a": ("prepare", 1.25),
        "data/prepared/b": ("prepare", 2.0),
        "data/prepared/other": ("prepare", 100.0),  # a data set the params no longer name
    }
    for output, (group, seconds) in written.items():
        timing(Path(output)).parent.mkdir(parents=True, exist_ok=True)
        timing(Path(output)).write_text(json.dumps({"group": group, "seconds": seconds}))
    outputs = [Path("data/prepared/a"), Path("data/prepared/b"), Path("data/features/a")]
    got = stage_seconds([*outputs, Path("runs")])
    assert list(got.items()) == [
        ("prepare", 3.2),
        ("train", 5.5),
        ("pretrain", 4.0),
        ("augmentation-study", 30.0),
    ]


# ---- run folders -> rows ------------------------------------------------------------------

CLASSES = ["yes", "no"]
# The views written in reverse of the paper's order: the table names them in its order.
VIEWS = ("time_mask", "fade")


def _write_run(root: Path, experiment: str, run: runs.Run, history: list[dict] | None) -> None:
    folder = runs.folder(run, experiment, root)
    folder.mkdir(parents=True)
    runs.write_run_info(folder, {"run": asdict(run), "classes": CLASSES})
    if history is not None:
        runs.write_history(folder, history)
    classifier = None if run.label_free else {"accuracy": 0.7, "macro_f1": 0.65}
    runs.write_evaluation(
        folder,
        {
            "run": asdict(run),
            "fraction": run.fraction,
            "classes": CLASSES,
            "evaluation_head": {"accuracy": 0.75, "macro_f1": 0.7, "confusion": [[3, 1], [0, 4]]},
            "classifier": classifier,
        },
    )


def test_collect_reads_evaluations_and_grid_histories(tmp_path: Path) -> None:
    hybrid = runs.grid_run("speech", "raw", "hybrid", 10.0, 0, VIEWS)
    history = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5, "heldout_accuracy": 0.5}]
    _write_run(tmp_path, runs.GRID, hybrid, history)
    study = runs.Run("speech", "spectrogram", "contrastive", 100.0, 0, VIEWS)
    _write_run(tmp_path, runs.AUGMENTATION, study, [{"epoch": 1, "heldout_accuracy": 0.4}])
    frame = collect(tmp_path, "test", "abc1234")
    assert tuple(frame.columns) == COLUMNS
    assert set(frame["augmentations"]) == {"fade+time_mask"}
    assert set(frame[["profile", "git_rev"]].itertuples(index=False, name=None)) == {
        ("test", "abc1234")
    }
    grid = frame[frame["experiment"] == runs.GRID].set_index("metric")["value"]
    assert grid["accuracy"] == 0.75 and grid["classifier_macro_f1"] == 0.65
    assert grid["confusion/yes/no"] == 1 and grid["confusion/no/no"] == 4
    # The label-free study run has no classifier of its own.
    study_metrics = set(frame.loc[frame["experiment"] == runs.AUGMENTATION, "metric"])
    assert study_metrics == {"accuracy", "macro_f1"} | {
        f"confusion/{t}/{p}" for t in CLASSES for p in CLASSES
    }
    # Convergence rows: grid runs only; the loss of every epoch, the held-out accuracy of the
    # epochs probed.
    convergence = frame[frame["experiment"] == "convergence"]
    columns = ["dataset", "objective", "fraction", "epoch", "metric", "value"]
    assert convergence[columns].values.tolist() == [
        ["speech", "hybrid", 10.0, 1, "loss", 2.0],
        ["speech", "hybrid", 10.0, 2, "loss", 1.5],
        ["speech", "hybrid", 10.0, 2, "heldout_accuracy", 0.5],
    ]


# ---- selecting the runs the params define -------------------------------------------------


def _params(**grid: object) -> Params:
    """The committed params cut to one data set, the raw input, one seed and a hybrid and a
    contrastive objective; ``grid`` overrides ``grid.*``."""
    raw = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    raw["data"]["names"] = ["speech"]
    raw["grid"].update(
        {
            "inputs": ["raw"],
            "fractions": {"raw": [10, 100]},
            "seeds": [0],
            "augmentations": ["time_mask", "fade"],
            **grid,
        }
    )
    raw["loss"] = {"fraction_trained": ["hybrid"], "label_free": ["contrastive"]}
    raw["augmentation_study"].update(
        datasets=["speech"], combos=["fade", "time_mask+fade"], input="raw", seed=0
    )
    return parse_params(raw)


def _table(rows: list[dict]) -> pd.DataFrame:
    base = dict.fromkeys(COLUMNS, np.nan) | {
        "experiment": "grid",
        "dataset": "speech",
        "input": "raw",
        "objective": "hybrid",
        "fraction": 10.0,
        "augmentations": "fade+time_mask",
        "seed": 0,
        "metric": "accuracy",
        "value": 0.5,
    }
    return pd.DataFrame([base | row for row in rows], columns=list(COLUMNS))


KEPT = [
    {},
    {"experiment": "convergence", "epoch": 3},
    # Label-free runs are evaluated at every fraction, listed or not.
    {"objective": "contrastive", "fraction": 1.0},
    {"experiment": "augmentation", "objective": "contrastive", "augmentations": "fade"},
    {"experiment": "augmentation", "objective": "contrastive", "fraction": 100.0},
]
DROPPED = [
    {"dataset": "music"},
    {"input": "spectrogram"},
    {"objective": "supervised"},
    {"seed": 1},
    {"fraction": 1.0},
    {"augmentations": "fade"},
    {"experiment": "augmentation", "objective": "contrastive", "augmentations": "noise"},
    {"experiment": "augmentation", "objective": "hybrid", "augmentations": "fade"},
    {"experiment": "augmentation", "objective": "contrastive", "input": "spectrogram"},
    {"experiment": "augmentation", "objective": "contrastive", "seed": 1},
]


@pytest.mark.parametrize("row", DROPPED, ids=lambda row: str(row))
def test_select_drops_rows_of_runs_the_params_do_not_define(row: dict) -> None:
    frame = _table([*KEPT, row])
    assert select(frame, _params()).equals(_table(KEPT))


def test_select_compares_augmentations_in_the_papers_order() -> None:
    frame = _table([{}])
    assert len(select(frame, _params(augmentations=("fade", "time_mask")))) == 1
    assert select(frame, _params(augmentations=("fade",))).empty


def test_summary_is_the_seed_mean_grid_accuracy_at_all_labels() -> None:
    frame = _table(
        [
            {"fraction": 100.0, "seed": 0, "value": 0.5},
            {"fraction": 100.0, "seed": 1, "value": 0.6},
            {"fraction": 100.0, "objective": "contrastive", "value": 0.123456},
            {"fraction": 10.0, "value": 0.9},
            {"fraction": 100.0, "metric": "macro_f1", "value": 0.9},
            {"fraction": 100.0, "experiment": "augmentation", "value": 0.9},
        ]
    )
    assert summary(frame) == {"speech": {"raw": {"contrastive": 0.1235, "hybrid": 0.55}}}
