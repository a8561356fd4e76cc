"""Real label fractions: the labelled clips a nominal fraction actually gave.

A fraction rounds up to at least one clip per class, so on a small data set "10 %" can mean
12.5 % of the training clips, two per class. Every table and figure names a fraction as
``10 % (real 12.5 %, 40 clips, 2/class)``; a range where the runs of that fraction differ.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clar.report.results import (
    LABELLED_CLIPS,
    LABELLED_MAX_PER_CLASS,
    LABELLED_MIN_PER_CLASS,
    LABELLED_SHARE,
)

_METRICS = (LABELLED_SHARE, LABELLED_CLIPS, LABELLED_MIN_PER_CLASS, LABELLED_MAX_PER_CLASS)


@dataclass(frozen=True)
class Labelled:
    """What the runs of one (data set, nominal fraction) were fitted on, over all their runs."""

    share: tuple[float, float]  # percent of the training clips, min and max over runs
    clips: tuple[int, int]
    per_class: tuple[int, int]  # fewest and most labelled clips of any class

    def describe(self) -> str:
        """``real 12.5 %, 40 clips, 2/class``."""
        share = _span(self.share, lambda v: f"{v:.3g}") + " %"
        clips = _span(self.clips, str)
        return f"real {share}, {clips} clips, {_span(self.per_class, str)}/class"


def _span(pair: tuple, fmt: Callable[[Any], str]) -> str:
    low, high = pair
    return fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"


def gather(df: pd.DataFrame) -> dict[tuple[Hashable, float], Labelled]:
    """Per (data set, fraction) the labelled counts recorded by the evaluations of a prepared
    results table; fractions whose evaluations recorded none are absent."""
    rows = df[df["metric"].isin(_METRICS)]
    out: dict[tuple[Hashable, float], Labelled] = {}
    for (dataset, fraction), group in rows.groupby(["dataset", "fraction"]):
        by_metric = group.groupby("metric")["value"]
        spans = {m: (float(v.min()), float(v.max())) for m, v in by_metric}
        if not set(_METRICS) <= set(spans):
            continue
        out[(dataset, float(fraction))] = Labelled(
            spans[LABELLED_SHARE],
            tuple(int(v) for v in spans[LABELLED_CLIPS]),
            (int(spans[LABELLED_MIN_PER_CLASS][0]), int(spans[LABELLED_MAX_PER_CLASS][1])),
        )
    return out


def fraction_label(
    labelled: dict[tuple[Hashable, float], Labelled], dataset: Hashable, fraction: float
) -> str:
    """``10 % (real 12.5 %, 40 clips, 2/class)``, or just ``10 %`` where nothing was recorded."""
    nominal = f"{fraction:g} %"
    found = labelled.get((dataset, float(fraction)))
    return f"{nominal} ({found.describe()})" if found else nominal


def fraction_tick(
    labelled: dict[tuple[Hashable, float], Labelled], dataset: Hashable, fraction: float
) -> str:
    """A figure's axis tick: ``10 %`` over ``12.5 %, 2/class`` (real share and per class)."""
    found = labelled.get((dataset, float(fraction)))
    if not found:
        return f"{fraction:g} %"
    share = _span(found.share, lambda v: f"{v:.3g}")
    return f"{fraction:g} %\n(real {share} %,\n{_span(found.per_class, str)}/class)"
