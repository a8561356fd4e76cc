"""Verdicts from intervals: a comparison is supported, contradicted or inconclusive, and a claim
over several comparisons is judged after a correction for how many there are.

A single comparison is *supported* when its 95 % interval lies above zero in the claimed
direction, *contradicted* when it lies below, *inconclusive* when it includes zero; it *cannot
be judged* when the run lacks the data.

A claim over several comparisons ("for every objective", "at every fraction") would find one
interval excluding zero by chance in about one of twenty comparisons of no difference at all.
So within a claim the comparisons' p-values are adjusted by Holm's step-down method, which
keeps the chance of any false decision in the claim at 5 % (family-wise) without assuming the
comparisons independent (they share runs); Benjamini-Hochberg would control only the share of
false decisions, too lax when one decision can flip a verdict. A comparison counts as decided
only if its own interval excludes zero *and* its Holm-adjusted p-value is below 0.05. The
claim is then *supported* if every judged comparison is decided in the claimed direction,
*contradicted* if some are decided against it and none for it, *mixed* if some are decided
each way, and *inconclusive* otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clar.report.intervals import CONFIDENCE, Interval

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
MIXED = "mixed"
UNJUDGED = "cannot be judged"
STATES = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
VERDICTS = (SUPPORTED, CONTRADICTED, MIXED, INCONCLUSIVE, UNJUDGED)
ALPHA = 1 - CONFIDENCE


def state(interval: Interval | None) -> str:
    """The verdict of one interval of (claimed better − claimed worse)."""
    if interval is None:
        return UNJUDGED
    if interval.low > 0:
        return SUPPORTED
    if interval.high < 0:
        return CONTRADICTED
    return INCONCLUSIVE


@dataclass(frozen=True)
class Comparison:
    """One compared pair: what it is, its interval (None: cannot be judged) and why not."""

    name: str
    interval: Interval | None
    why: str = ""  # why it cannot be judged
    unit: str = "points"

    @property
    def state(self) -> str:
        return state(self.interval)

    def sentence(self) -> str:
        """``speech/supervised: +5.2 points (95 % CI ...; 3 seeds × 160 test clips): supported``."""
        if self.interval is None:
            return f"{self.name}: {UNJUDGED} ({self.why})"
        return f"{self.name}: {self.interval.format(self.unit)}: {self.state}"

    def cell(self) -> str:
        """The table form: the difference and its interval, the state as a mark."""
        if self.interval is None:
            return "–"
        return f"{self.interval.cell()} {MARKS[self.state]}"


# Marks for table cells, explained under every table that uses them.
MARKS = {SUPPORTED: "▲", CONTRADICTED: "▼", INCONCLUSIVE: "○"}
MARKS_LEGEND = (
    f"{MARKS[SUPPORTED]}: interval above zero; {MARKS[CONTRADICTED]}: below zero; "
    f"{MARKS[INCONCLUSIVE]}: includes zero (each comparison alone, before the correction the "
    "claims apply)"
)


def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    statsmodels (``multipletests(method="holm")``) is not a dependency of the project and the
    step is a few lines: the k-th smallest p-value is multiplied by (m − k + 1), and the
    adjusted values are made non-decreasing in that order.
    """
    adjusted = [0.0] * len(p)
    running = 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (len(p) - rank) * float(p[i])))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Judged:
    """A comparison within a claim: its Holm-adjusted p-value and the state it counts as."""

    comparison: Comparison
    adjusted_p: float  # NaN where the comparison cannot be judged
    state: str


def _p(interval: Interval) -> float:
    # An interval built without a p-value (none of the report's own) is taken at its word.
    if math.isnan(interval.p):
        return 0.0 if interval.excludes_zero() else 1.0
    return interval.p


def corrected(comparisons: Sequence[Comparison]) -> tuple[Judged, ...]:
    """Each comparison's state after Holm's correction over the judged ones."""
    judged = {i: c.interval for i, c in enumerate(comparisons) if c.interval is not None}
    adjusted = dict(zip(judged, holm([_p(v) for v in judged.values()]), strict=True))
    out = []
    for i, c in enumerate(comparisons):
        if i not in adjusted:
            out.append(Judged(c, math.nan, UNJUDGED))
            continue
        p = adjusted[i]
        decided = c.state in (SUPPORTED, CONTRADICTED) and p < ALPHA
        out.append(Judged(c, p, c.state if decided else INCONCLUSIVE))
    return tuple(out)


def overall(states: Sequence[str]) -> str:
    """The verdict of a claim from its comparisons' corrected states (unjudged ones aside)."""
    judged = [s for s in states if s != UNJUDGED]
    if not judged:
        return UNJUDGED
    if all(s == SUPPORTED for s in judged):
        return SUPPORTED
    if CONTRADICTED in judged:
        return MIXED if SUPPORTED in judged else CONTRADICTED
    return INCONCLUSIVE


def tally(states: Sequence[str], what: str) -> str:
    """``2 of 3 data sets supported, 0 contradicted, 1 inconclusive``."""
    judged = [s for s in states if s != UNJUDGED]
    counts = {s: sum(x == s for x in judged) for s in STATES}
    text = (
        f"{counts[SUPPORTED]} of {len(judged)} {what} supported, {counts[CONTRADICTED]} "
        f"contradicted, {counts[INCONCLUSIVE]} inconclusive"
    )
    if unjudged := len(states) - len(judged):
        text += f" ({unjudged} could not be judged)"
    return text
