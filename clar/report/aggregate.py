"""The results table tidied and summarised over seeds, once per render: what every table,
figure and claim of the report draws on.

Conventions used throughout (the reports state them again):

* a cell is the mean over seeds of the per-seed value, with the sample standard deviation and
  the number of seeds (:mod:`clar.report.statistics`);
* the headline metric for every objective is the evaluation head on the frozen encoder
  (``accuracy``); the run's own classifier (``classifier_accuracy``) is reported separately;
* percentages have one decimal, differences are in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clar import vocabulary
from clar.report import labels
from clar.report.per_clip import Correctness
from clar.report.results import COLUMNS, CONFUSION
from clar.report.statistics import STAT_COLUMNS, Stat, over_seeds
from clar.runs import GRID
from clar.vocabulary import (
    CONTRASTIVE,
    HYBRID,
    RAW,
    SPECTROGRAM,
    SUPERVISED,
    join_combo,
    split_combo,
)

# Display order, the paper's: its baseline, its self-supervised model, then CLAR.
OBJECTIVES = vocabulary.OBJECTIVES
OBJECTIVE_NAMES = {
    SUPERVISED: "supervised",
    CONTRASTIVE: "self-supervised + head",
    HYBRID: "CLAR (hybrid)",
}
# Spectrogram first: it is the paper's main input, so its table comes first.
INPUTS = (SPECTROGRAM, RAW)

NUMERIC_COLUMNS = ("value", "fraction", "epoch", "seed")
TEXT_COLUMNS = ("experiment", "dataset", "input", "objective", "metric", "profile", "git_rev")
# A grid cell: one configuration of the E2-E4 grid, over its seeds.
GRID_KEYS = ("dataset", "input", "objective", "fraction")

Key = tuple[Hashable, ...]
Cells = dict[Key, Stat]


def _canonical_augmentations(value: object) -> str:
    """Join the names in the paper's order so that ``a+b`` and ``b+a`` are one configuration."""
    if not isinstance(value, str) or not value:
        return ""
    return join_combo(split_combo(value))


def prepare(results: pd.DataFrame) -> pd.DataFrame:
    """Normalise types of a results table (idempotent), tolerating absent optional columns.

    The CSV round trip turns ints into floats and empty strings into NaN; every consumer here
    wants the same cleaned view, so it is done once.
    """
    df = results.copy()
    for column in COLUMNS:
        if column not in df.columns:
            df[column] = np.nan
    for column in NUMERIC_COLUMNS:
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    for column in TEXT_COLUMNS:
        df[column] = df[column].fillna("").astype(str)
    df["augmentations"] = df["augmentations"].map(_canonical_augmentations)
    return df.dropna(subset=["value"]).reset_index(drop=True)


def summarise(
    results: pd.DataFrame,
    *,
    experiment: str,
    metric: str,
    by: Sequence[str] = GRID_KEYS,
) -> pd.DataFrame:
    """Mean, sample std and n over seeds for each ``by`` group of one experiment and metric.

    Returns the ``by`` columns plus ``mean``, ``std`` and ``n`` (values as fractions, not %).
    """
    df = prepare(results)
    rows = df[(df["experiment"] == experiment) & (df["metric"] == metric)]
    if rows.empty:
        return pd.DataFrame(columns=[*by, *STAT_COLUMNS])
    return over_seeds(rows, by)


def cells(summary: pd.DataFrame, by: Sequence[str]) -> Cells:
    """Index a :func:`summarise` frame by its key tuple for cheap look-ups."""
    return {tuple(row[k] for k in by): Stat.from_row(row) for _, row in summary.iterrows()}


def best(stats: dict[Hashable, Stat | None]) -> set[Hashable]:
    """Keys whose mean is the highest (ties all win)."""
    present = {k: s.mean for k, s in stats.items() if s is not None}
    if not present:
        return set()
    top = max(present.values())
    return {k for k, m in present.items() if math.isclose(m, top, rel_tol=0, abs_tol=1e-12)}


def ordered(values: Iterable[str], preferred: Sequence[str] = ()) -> list[str]:
    """Known names in their canonical order first, then any others alphabetically."""
    present = {v for v in values if v}
    return [v for v in preferred if v in present] + sorted(present - set(preferred))


def objective_name(objective: str) -> str:
    return OBJECTIVE_NAMES.get(objective, objective)


@dataclass
class Data:
    """The aggregates every table, figure and claim draws on, computed once per render."""

    df: pd.DataFrame  # the prepared results table
    datasets: list[str]  # in run_info's order, then any others alphabetically
    grid: dict[str, Cells] = field(default_factory=dict)  # metric -> (dataset, input, obj, frac)
    clips: Correctness = field(default_factory=lambda: Correctness(None))  # per-clip outcomes
    labelled: dict = field(default_factory=dict)  # (dataset, fraction) -> labels.Labelled

    def fraction_label(self, dataset: str, fraction: float) -> str:
        """``10 % (real 12.5 %, 40 clips, 2/class)``."""
        return labels.fraction_label(self.labelled, dataset, fraction)

    def fraction_tick(self, dataset: str, fraction: float) -> str:
        """The same, in three short lines for a figure's axis."""
        return labels.fraction_tick(self.labelled, dataset, fraction)


def gather(results: pd.DataFrame, run_info: dict, per_clip: pd.DataFrame | None = None) -> Data:
    """Tidy ``results`` and summarise every grid metric (confusion counts aside) over seeds;
    ``per_clip`` is the per-clip table the paired intervals resample."""
    df = prepare(results)
    datasets = ordered(df["dataset"], list(run_info.get("datasets", {})))
    data = Data(df=df, datasets=datasets, clips=Correctness(per_clip), labelled=labels.gather(df))
    grid_metrics = df.loc[df["experiment"] == GRID, "metric"].unique()
    for metric in grid_metrics:
        if metric.startswith(CONFUSION):
            continue
        data.grid[metric] = cells(
            summarise(df, experiment=GRID, metric=metric, by=GRID_KEYS), GRID_KEYS
        )
    return data


def inputs_of(grid: Cells, dataset: str) -> list[str]:
    return ordered((k[1] for k in grid if k[0] == dataset), INPUTS)


def objectives_of(grid: Cells, dataset: str, input_: str | None = None) -> list[str]:
    keys = (k for k in grid if k[0] == dataset and (input_ is None or k[1] == input_))
    return ordered((k[2] for k in keys), OBJECTIVES)


def fractions_of(grid: Cells, dataset: str, input_: str) -> list[float]:
    return sorted({k[3] for k in grid if k[0] == dataset and k[1] == input_})
