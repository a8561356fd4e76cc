"""The statistic of one cell of the report: the mean over seeds, its spread and the seed count.

A cell is the mean over seeds of the per-seed value (rows of one seed are averaged first, so
``n`` counts seeds, not rows), with the sample standard deviation (``ddof=1``, NaN for a single
seed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

STAT_COLUMNS = ("mean", "std", "n")


@dataclass(frozen=True)
class Stat:
    """One aggregated cell: mean, sample std (NaN for a single seed) and number of seeds."""

    mean: float
    std: float
    n: int

    @classmethod
    def from_row(cls, row: pd.Series) -> Stat:
        """A row of :func:`over_seeds`'s frame as a cell."""
        return cls(float(row["mean"]), float(row["std"]), int(row["n"]))

    def format(self) -> str:
        """``83.4 ± 1.2 (n=3)`` in percent; a single seed gets no spread rather than a fake 0."""
        if self.n > 1 and not math.isnan(self.std):
            return f"{100 * self.mean:.1f} ± {100 * self.std:.1f} (n={self.n})"
        return f"{100 * self.mean:.1f} (n={self.n})"


def over_seeds(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, sample std and n over seeds of ``rows["value"]`` for each ``by`` group.

    ``rows`` has the ``by`` columns, ``seed`` and ``value``; the result has the ``by`` columns
    plus ``mean``, ``std`` and ``n``, one row per group.
    """
    per_seed = rows.groupby([*by, "seed"], dropna=False)["value"].mean().reset_index()
    grouped = per_seed.groupby(list(by), dropna=False)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    return out[[*by, *STAT_COLUMNS]]
