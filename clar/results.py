"""Collect every run's numbers into the one long table that reports/ is rendered from.

One row per (experiment, data set, input, objective, label fraction, augmentations, seed,
epoch, metric): see :data:`clar.report.COLUMNS`. A run folder ``runs/<experiment>/<data
set>/<run>/`` holds ``evaluation-f<fraction>.json`` (grid and augmentation-study rows) and
``history.tsv`` (convergence rows, grid runs only).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import pandas as pd
import torch

from clar.cli import STAGE_FILE, STAGE_GROUPS
from clar.config import AUGMENTATION_SEPARATOR, Params
from clar.data.registry import DATASETS
from clar.report import COLUMNS

# The folders under runs/, named as the experiment their runs belong to.
EXPERIMENTS = ("grid", "augmentation")


def _key(run: dict, experiment: str, fraction: float) -> dict:
    return {
        "experiment": experiment,
        "dataset": run["dataset"],
        "input": run["input"],
        "objective": run["objective"],
        "fraction": float(fraction),
        "augmentations": AUGMENTATION_SEPARATOR.join(run["augmentations"]),
        "seed": int(run["seed"]),
        "epoch": None,
    }


def metric_rows(result: dict, experiment: str) -> list[dict]:
    """The rows of one evaluate stage's JSON."""
    key = _key(result["run"], experiment, result["fraction"])
    head = result["evaluation_head"]
    rows = [
        {**key, "metric": "accuracy", "value": head["accuracy"]},
        {**key, "metric": "macro_f1", "value": head["macro_f1"]},
    ]
    if result.get("classifier"):
        rows += [
            {**key, "metric": "classifier_accuracy", "value": result["classifier"]["accuracy"]},
            {**key, "metric": "classifier_macro_f1", "value": result["classifier"]["macro_f1"]},
        ]
    classes = result["classes"]
    for t, row in enumerate(head["confusion"]):
        rows += [
            {**key, "metric": f"confusion/{classes[t]}/{classes[p]}", "value": count}
            for p, count in enumerate(row)
        ]
    return rows


def history_rows(run_dir: Path) -> list[dict]:
    """Convergence rows (held-out accuracy per evaluated epoch) of one training run."""
    run = json.loads((run_dir / "run.json").read_text())["run"]
    history = pd.read_csv(run_dir / "history.tsv", sep="\t")
    if "heldout_accuracy" not in history:
        return []
    key = _key(run, "convergence", run["fraction"])
    return [
        {
            **key,
            "epoch": int(r.epoch),
            "metric": "heldout_accuracy",
            "value": float(r.heldout_accuracy),
        }
        for r in history.dropna(subset=["heldout_accuracy"]).itertuples()
    ]


def collect(runs_dir: Path, profile: str, git_rev: str) -> pd.DataFrame:
    """Every evaluation and every grid training history under ``runs_dir``, as one long
    DataFrame."""
    rows: list[dict] = []
    for experiment in EXPERIMENTS:
        for path in sorted((runs_dir / experiment).rglob("evaluation-f*.json")):
            rows += metric_rows(json.loads(path.read_text()), experiment)
    for run_json in sorted((runs_dir / "grid").rglob("run.json")):
        rows += history_rows(run_json.parent)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("profile", "git_rev")])
    frame["epoch"] = frame["epoch"].astype("Int64")
    frame["profile"] = profile
    frame["git_rev"] = git_rev
    return frame


def select(frame: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Keep the rows of the runs the current parameters define.

    Outputs of stages an earlier experiment ran stay on disk (``-S loss=hybrid`` does not delete
    the contrastive runs); a report must not mix them in.
    """
    objectives = (*params.fraction_trained, *params.label_free)
    study = params.augmentation_study
    combos = [AUGMENTATION_SEPARATOR.join(c) for c in study.combos]
    grid = (
        frame["experiment"].isin(["grid", "convergence"])
        & frame["dataset"].isin(params.data)
        & frame["input"].isin(params.grid.inputs)
        & frame["objective"].isin(objectives)
        & frame["seed"].isin(params.grid.seeds)
        & (frame["augmentations"] == AUGMENTATION_SEPARATOR.join(params.augment_names))
        & (frame["fraction"].isin(params.grid.fractions) | (frame["objective"] == "contrastive"))
    )
    e1 = (
        (frame["experiment"] == "augmentation")
        & frame["dataset"].isin(study.datasets)
        & frame["augmentations"].isin(combos)
        & frame["objective"].isin(params.label_free)
        & (frame["input"] == study.input)
        & (frame["seed"] == study.seed)
    )
    return frame[grid | e1].reset_index(drop=True)


def summary(frame: pd.DataFrame) -> dict:
    """Headline metrics for ``dvc exp show``: test accuracy of the evaluation head at 100 %
    labels, mean over seeds, per data set, input and objective."""
    rows = frame[
        (frame["experiment"] == "grid")
        & (frame["metric"] == "accuracy")
        & (frame["fraction"] == 100.0)
    ]
    out: dict = {}
    for (dataset, input_, objective), group in rows.groupby(["dataset", "input", "objective"]):
        out.setdefault(dataset, {}).setdefault(input_, {})[objective] = round(
            float(group["value"].mean()), 4
        )
    return out


def git_revision() -> str:
    """The checked-out commit (with ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def hardware() -> str:
    """What the numbers were measured on, in words."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} logical CPUs"
    if torch.cuda.is_available():
        text += f"; GPU {torch.cuda.get_device_name(0)}"
    return text


def stage_seconds(folders: list[Path]) -> dict[str, float]:
    """Wall time per stage group, summed over the ``stage.json`` files in ``folders`` (searched
    recursively), in pipeline order."""
    totals = dict.fromkeys(STAGE_GROUPS, 0.0)
    for folder in folders:
        for path in sorted(folder.rglob(STAGE_FILE)):
            stage = json.loads(path.read_text())
            totals[stage["group"]] += stage["seconds"]
    return {group: round(seconds, 1) for group, seconds in totals.items() if seconds}


def run_info(
    data: list[str],
    prepared_dir: Path,
    features_dir: Path,
    runs_dir: Path,
    profile: str,
    git_rev: str,
    seeds: list[int],
) -> dict:
    """What ran, on what, and how long each stage group took (summed over its stages)."""
    datasets = {}
    for name in data:
        info = json.loads((prepared_dir / name / "info.json").read_text())
        spec = DATASETS.get(name)
        datasets[name] = {
            "embedded": info["kind"] == "embedded",
            "task": spec.task if spec else f"{info['kind']} data set",
            "classes": info["classes"],
            "clips": info["clips"],
        }
    return {
        "profile": profile,
        "git_rev": git_rev,
        "hardware": hardware(),
        "seeds": seeds,
        "datasets": datasets,
        "stage_seconds": stage_seconds(
            [prepared_dir / n for n in data] + [features_dir / n for n in data] + [runs_dir]
        ),
    }
