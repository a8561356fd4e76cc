"""Verdicts from intervals: a comparison is supported, contradicted or inconclusive, and a claim
over several comparisons says how many were each.

A comparison is *supported* when its 95 % interval lies above zero in the claimed direction,
*contradicted* when it lies below, *inconclusive* when it includes zero; it *cannot be judged*
when the run lacks the data. A claim over several comparisons is universal ("for every
objective", "at every fraction"): supported only if every comparison is, contradicted if any is,
inconclusive otherwise. The intervals are per comparison, not adjusted for how many there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clar.report.intervals import Interval

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
UNJUDGED = "cannot be judged"
STATES = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)


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
    f"{MARKS[INCONCLUSIVE]}: includes zero"
)


def overall(states: Sequence[str]) -> str:
    """The verdict of a universal claim from its comparisons' verdicts (unjudged ones aside)."""
    judged = [s for s in states if s != UNJUDGED]
    if not judged:
        return UNJUDGED
    if CONTRADICTED in judged:
        return CONTRADICTED
    return SUPPORTED if all(s == SUPPORTED for s in judged) else INCONCLUSIVE


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
