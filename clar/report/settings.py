"""What each objective trained at: batch size, learning rate and epochs, read from every run's
``run.json`` (what the run really trained with, not what the parameters say now).

The front page shows them because a shared setting can favour one objective: a comparison of
two objectives is only as fair as the settings each was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from clar import runs
from clar.config import Params
from clar.objectives import OBJECTIVES
from clar.report.aggregate import objective_name, ordered
from clar.report.results import run_key, selected
from clar.report.tables import md_table

SETTINGS = ("batch_size", "lr", "epochs")
# The grid first: the claims' comparisons of objectives are made there.
EXPERIMENT_NAMES = {runs.GRID: "grid (E2-E4)", runs.AUGMENTATION: "augmentation study (E1)"}
# Per-data-set and per-objective overrides as run.json may hold them unresolved; a run that
# wrote its resolved values has them empty, and the overlay changes nothing.
OVERRIDES = ("per_dataset", "per_objective")


def trained_with(train: dict, dataset: str, objective: str) -> dict:
    """The settings of :data:`SETTINGS` a run used, from its run.json ``train`` section."""
    found = {k: train.get(k) for k in SETTINGS}
    for override, name in zip(OVERRIDES, (dataset, objective), strict=True):
        own = (train.get(override) or {}).get(name) or {}
        found |= {k: v for k, v in own.items() if k in SETTINGS and v is not None}
    return found


def collect(runs_dir: Path, params: Params) -> list[dict]:
    """Per (experiment, data set, objective) and setting values, the number of runs the current
    parameters define that trained with them."""
    rows = []
    for experiment in runs.EXPERIMENTS:
        for run_dir in runs.trained(runs_dir, experiment):
            info = runs.read_run_info(run_dir)
            run = info["run"]
            if "train" not in info:
                continue
            key = run_key(run, experiment, run["fraction"])
            rows.append(key | trained_with(info["train"], run["dataset"], run["objective"]))
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    frame = frame[selected(frame, params)]
    by = ["experiment", "dataset", "objective", *SETTINGS]
    counts = frame.groupby(by, dropna=False).size().reset_index(name="runs")
    return [
        {k: (None if pd.isna(v) else v) for k, v in r.items()}
        for r in counts.to_dict(orient="records")
    ]


def _value(value: object) -> str:
    return "unknown" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def table(found: list[dict], datasets: Sequence[str] = ()) -> str:
    """One row per experiment, objective and settings, its data sets listed (in ``datasets``'
    order, then alphabetically); a note if none."""
    if not found:
        return (
            "The run folders record no training settings (run.json without `train`), or none "
            "was collected for this page.\n"
        )
    groups: dict[tuple, list[tuple[str, int]]] = {}
    for r in found:
        key = (r["experiment"], r["objective"], *(r[k] for k in SETTINGS))
        groups.setdefault(key, []).append((str(r["dataset"]), int(r["runs"])))
    # The rows are of objectives that ran, the E1 one included: the whole registry orders them.
    rank = {o: i for i, o in enumerate(OBJECTIVES.names())}
    first = {e: i for i, e in enumerate(EXPERIMENT_NAMES)}

    def order(key: tuple) -> tuple:
        return (first.get(key[0], len(first)), rank.get(key[1], len(rank)), str(key[2:]))

    rows = []
    for key in sorted(groups, key=order):
        experiment, objective, *values = key
        names = ordered((d for d, _ in groups[key]), datasets)
        rows.append(
            [
                EXPERIMENT_NAMES.get(str(experiment), str(experiment)),
                objective_name(str(objective)),
                ", ".join(names),
                *(_value(v) for v in values),
                str(sum(n for _, n in groups[key])),
            ]
        )
    header = ["runs of", "objective", "data sets", "batch size", "learning rate", "epochs", "runs"]
    return md_table(header, rows)
