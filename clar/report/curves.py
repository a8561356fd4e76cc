"""Training curves as DVC plots: ``reports/curves/<metric>/<dataset>-<input>.tsv``.

One file per metric (training loss, held-out accuracy), data set and input; one row per epoch
and one column per objective, each the mean over seeds of the grid runs at 100 % labels (the
label-free runs, which use no labels, count as 100 %). dvc.yaml's top-level ``plots:`` draws
every file of a metric's folder with ``x: epoch`` and the objectives as ``y``, so ``dvc plots
diff`` overlays an experiment's curves on main's; the E4 figure shows every label fraction.

The files hold no wall-clock value: two runs of the same pipeline write the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clar.atomic import building
from clar.objectives import OBJECTIVES
from clar.report.results import CONVERGENCE, HELDOUT_ACCURACY, TRAINING_LOSS
from clar.vocabulary import FULL_FRACTION

EPOCH = "epoch"


def columns() -> dict[str, tuple[str, ...]]:
    """A metric's columns after the epoch, the same in every file and whatever the profile
    trained: DVC refuses a plot whose file lacks one of its y columns, so an objective that did
    not run keeps a blank column. Every registered objective logs its loss; only the
    ``monitored`` ones a held-out accuracy."""
    names = OBJECTIVES.names()
    return {
        TRAINING_LOSS: names,
        HELDOUT_ACCURACY: tuple(n for n in names if OBJECTIVES.get(n).monitored),
    }


def curve_file(metric: str, dataset: str, input_: str) -> str:
    """``("loss", "speech", "raw")`` -> ``"loss/speech-raw.tsv"`` (relative to the folder)."""
    return f"{metric}/{dataset}-{input_}.tsv"


def curve_tables(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The curves of a results table (:mod:`~clar.report.results`), keyed by
    :func:`curve_file`: ``[epochs, 1 + len(columns()[metric])]``, NaN where an objective has no
    value at that epoch."""
    wanted = columns()
    rows = results[
        (results["experiment"] == CONVERGENCE) & results["metric"].isin(list(wanted))
    ].copy()
    rows["fraction"] = rows["fraction"].fillna(FULL_FRACTION)
    rows = rows[rows["fraction"] == FULL_FRACTION]
    keys = ["metric", "dataset", "input"]
    means = rows.groupby([*keys, EPOCH, "objective"])["value"].mean().reset_index()
    tables = {}
    for (metric, dataset, input_), group in means.groupby(keys):
        table = group.pivot(index=EPOCH, columns="objective", values="value")
        table = table.reindex(columns=list(wanted[metric])).sort_index()
        table.index = table.index.astype(int)
        tables[curve_file(metric, dataset, input_)] = table.reset_index()
    return tables


def write_curves(results: pd.DataFrame, folder: Path) -> Path:
    """Write :func:`curve_tables` into ``folder`` (replacing what it held, so a data set the
    params no longer name leaves no file behind); returns ``folder``."""
    with building(folder) as work:
        for name, table in curve_tables(results).items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(path, sep="\t", index=False, float_format="%.6g")
    return Path(folder)
