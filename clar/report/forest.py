"""The forest plot: every comparison of every claim, one row each, with the 95 % interval its
verdict rests on, the zero line, and the state it counts as after the claim's correction."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from clar.report.claims import Claim
from clar.report.figures import STATE_COLOURS, placeholder
from clar.report.verdicts import INCONCLUSIVE, Judged

ROW_INCHES = 0.24
LABEL_CHARS = 60  # longer comparison names are cut, the table beside the plot has them whole


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def figure(found: Sequence[Claim]) -> Figure:
    """One panel per claim part that has intervals, stacked, each row a comparison."""
    parts = [(c, [j for j in c.judged if j.comparison.interval]) for c in found]
    parts = [(c, rows) for c, rows in parts if rows]
    if not parts:
        return placeholder("No comparison could be judged: no intervals to plot")
    heights = [len(rows) + 1.6 for _, rows in parts]
    fig = Figure(figsize=(9.5, ROW_INCHES * sum(heights) + 0.8), layout="constrained")
    axes = fig.subplots(len(parts), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (claim, rows) in zip(axes, parts, strict=True):
        _panel(ax, claim, rows)
    handles = [
        Line2D([], [], color=colour, marker="o", ls="-", label=state)
        for state, colour in STATE_COLOURS.items()
    ]
    handles.append(
        Line2D(
            [],
            [],
            color="tab:grey",
            marker="o",
            mfc="white",
            ls="-",
            label="interval excludes zero, not after Holm's correction",
        )
    )
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    fig.suptitle(
        "Every comparison of every claim: difference in points, 95 % interval (t over seeds; "
        "one seed: bootstrap over clips)",
        fontsize="medium",
    )
    return fig


def _panel(ax: Axes, claim: Claim, rows: list[Judged]) -> None:
    for y, judged in enumerate(rows):
        interval = judged.comparison.interval
        assert interval is not None  # the rows are the judged comparisons
        colour = STATE_COLOURS[judged.state]
        # Hollow: the comparison alone excludes zero, the correction over the claim does not.
        hollow = judged.state == INCONCLUSIVE and interval.excludes_zero()
        ax.plot([interval.low, interval.high], [y, y], color=colour, lw=2)
        ax.plot(
            interval.diff, y, "o", color=colour, mfc="white" if hollow else colour, ms=5, zorder=3
        )
    ax.axvline(0, color="black", lw=0.8)
    # One seed: the interval holds clip noise only, and the label says so.
    labels = [
        _label(j.comparison.name) + (" (1 seed)" if j.comparison.interval.seeds == 1 else "")
        for j in rows
        if j.comparison.interval
    ]
    ax.set_yticks(range(len(rows)), labels, fontsize="small")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelsize="small")
    title = f"Claim {claim.number}: {claim.statement} — {claim.verdict}"
    ax.set_title(title if len(title) < 110 else title[:108] + "…", fontsize="small", loc="left")
    unit = rows[0].comparison.unit
    ax.set_xlabel(f"difference ({unit})", fontsize="small")
    finite = [v for j in rows for v in (j.comparison.interval.low, j.comparison.interval.high)]
    if all(math.isfinite(v) for v in finite):
        reach = max(abs(v) for v in finite) or 1.0
        ax.set_xlim(-1.05 * reach, 1.05 * reach)  # symmetric: zero in the middle
