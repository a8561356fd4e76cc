"""Markdown tables and the formatting of their numbers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clar.report.aggregate import Data, ordered
from clar.report.statistics import Stat
from clar.runs import GRID

# What a cell shows when its configuration was not run.
MISSING = "–"


def pct(fraction: float) -> str:
    """A label fraction: ``10.0`` -> ``10 %``."""
    return f"{fraction:g} %"


def points(value: float) -> str:
    """A signed difference in percentage points, with a real minus sign."""
    return f"{value:+.1f}".replace("-", "−")


def cell(stat: Stat | None, bold: bool = False) -> str:
    if stat is None:
        return MISSING
    return f"**{stat.format()}**" if bold else stat.format()


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def grid_augmentations(data: Data) -> str:
    """Say which augmentations the grid runs used: a mix would confound the comparison."""
    grid = data.df[data.df["experiment"] == GRID]
    used = ordered(grid["augmentations"])
    if not used:
        return ""
    return "\nAugmentations of these runs: " + ", ".join(f"`{a}`" for a in used) + ".\n"
