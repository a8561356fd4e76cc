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
import re
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clar.encoders import ENCODERS
from clar.objectives import OBJECTIVES
from clar.report import labels
from clar.report.per_clip import Correctness
from clar.report.results import COLUMNS, CONFUSION
from clar.report.statistics import STAT_COLUMNS, Stat, over_seeds
from clar.runs import GRID
from clar.vocabulary import join_combo, split_combo

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


def objective_order(objectives: Collection[str]) -> tuple[str, ...]:
    """The report's ``objectives`` in display order: the registry's (the paper's baseline, its
    self-supervised model, CLAR, then plug-ins)."""
    return tuple(name for name in OBJECTIVES.names() if name in objectives)


def encoder_order() -> tuple[str, ...]:
    """The encoders in display order: the registry's (the paper's main input first)."""
    return ENCODERS.names()


def objective_name(objective: str) -> str:
    """The objective's title (``CLAR (hybrid)``); an unknown name as it is."""
    return OBJECTIVES.get(objective).title if objective in OBJECTIVES.names() else objective


def objective_short(objective: str) -> str:
    """The title without its qualifier, for running text: ``CLAR (hybrid)`` -> ``CLAR``,
    ``self-supervised + head`` -> ``self-supervised``."""
    return re.split(r" \(| \+ ", objective_name(objective), maxsplit=1)[0]


def encoder_title(encoder: str) -> str:
    """The encoder's title (``ResNet-18 (1-D) on the waveform``); an unknown name as it is."""
    return ENCODERS.get(encoder).title if encoder in ENCODERS.names() else encoder


def label_free(objective: str) -> bool:
    """The objective trains on no labels (an unknown one is taken to use them)."""
    return objective in OBJECTIVES.names() and OBJECTIVES.get(objective).label_free()


def compared_pairs(objectives: Collection[str], monitored: bool = False) -> list[tuple[str, str]]:
    """(objective, other) for each of the report's ``objectives`` and each one its
    ``compared_with`` names, in registry order; with ``monitored``, only pairs whose both
    objectives log a curve (E4). The other may be outside ``objectives``: its claim then says
    it cannot be judged, as when the parameters run CLAR alone."""
    out = []
    for name in objective_order(objectives):
        cls = OBJECTIVES.get(name)
        for other in cls.compared_with:
            known = other in OBJECTIVES.names()
            if not monitored or (cls.monitored and known and OBJECTIVES.get(other).monitored):
                out.append((name, other))
    return out


@dataclass
class Data:
    """The aggregates every table, figure and claim draws on, computed once per render."""

    df: pd.DataFrame  # the prepared results table
    datasets: list[str]  # in run_info's order, then any others alphabetically
    grid: dict[str, Cells] = field(default_factory=dict)  # metric -> (dataset, input, obj, frac)
    clips: Correctness = field(default_factory=lambda: Correctness(None))  # per-clip outcomes
    labelled: dict = field(default_factory=dict)  # (dataset, fraction) -> labels.Labelled
    # The grid's encoders in grid.inputs' order: E2 sets the others against the first.
    inputs: list[str] = field(default_factory=list)
    # The parameters' grid objectives (run_info's, from build): the objectives the tables and
    # claims speak of, so that a registered objective no run used adds nothing.
    objectives: list[str] = field(default_factory=list)
    # Why the parameters ran no E1, where they ran none (run_info's e1_absent, from build).
    e1_absent: str = ""

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
    inputs = ordered(df.loc[df["experiment"] == GRID, "input"], encoder_order())
    data = Data(
        df=df,
        datasets=datasets,
        clips=Correctness(per_clip),
        labelled=labels.gather(df),
        # run_info's inputs are the parameters' (build); without them, the registry's order.
        inputs=list(run_info.get("inputs") or inputs),
        # Without run_info's, the objectives the table holds.
        objectives=list(run_info.get("objectives") or objective_order(set(df["objective"]))),
        e1_absent=str(run_info.get("e1_absent", "")),
    )
    grid_metrics = df.loc[df["experiment"] == GRID, "metric"].unique()
    for metric in grid_metrics:
        if metric.startswith(CONFUSION):
            continue
        data.grid[metric] = cells(
            summarise(df, experiment=GRID, metric=metric, by=GRID_KEYS), GRID_KEYS
        )
    return data


def inputs_of(grid: Cells, dataset: str) -> list[str]:
    return ordered((k[1] for k in grid if k[0] == dataset), encoder_order())


def objectives_of(
    grid: Cells, objectives: Collection[str], dataset: str, input_: str | None = None
) -> list[str]:
    keys = (k for k in grid if k[0] == dataset and (input_ is None or k[1] == input_))
    return ordered((k[2] for k in keys), objective_order(objectives))


def fractions_of(grid: Cells, dataset: str, input_: str) -> list[float]:
    return sorted({k[3] for k in grid if k[0] == dataset and k[1] == input_})
