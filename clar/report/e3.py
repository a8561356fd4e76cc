"""E3: every objective at each label fraction (the paper's supervised, self-supervised and CLAR),
and each against the objectives its ``compared_with`` names."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from clar.objectives import OBJECTIVES
from clar.report.aggregate import (
    Cells,
    Data,
    best,
    compared_pairs,
    encoder_order,
    fractions_of,
    inputs_of,
    objective_name,
    objective_order,
    objective_short,
    objectives_of,
    ordered,
)
from clar.report.comparisons import GridComparisons
from clar.report.figures import input_marker, input_style, objective_colour, placeholder, title
from clar.report.intervals import PAIRED
from clar.report.results import ACCURACY, CLASSIFIER_ACCURACY, MACRO_F1
from clar.report.tables import MISSING, cell, grid_augmentations, md_table
from clar.report.verdicts import MARKS_LEGEND


def _and(names: list[str]) -> str:
    """``a, b and c``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _own_classifiers(objectives: Collection[str]) -> tuple[str, str]:
    """Which of ``objectives`` have their own classifier, and the sentence on those that have
    none."""
    names = objective_order(objectives)
    own = [objective_short(o) for o in names if OBJECTIVES.get(o).own_classifier]
    none = [objective_short(o) for o in names if not OBJECTIVES.get(o).own_classifier]
    models = "model has" if len(none) == 1 else "models have"
    return _and(own) or "none", f"the {_and(none)} {models} none" if none else "every one has"


def metrics(objectives: Collection[str]) -> tuple[tuple[str, str, str], ...]:
    """The metrics shown for the report's ``objectives``, each as (metric, section title, what
    it measures)."""
    own, without = _own_classifiers(objectives)
    return (
        (
            ACCURACY,
            "Evaluation-head accuracy (headline metric)",
            "Accuracy of the evaluation head trained on the frozen encoder with the run's label "
            "fraction, on the test split, for every objective.",
        ),
        (
            MACRO_F1,
            "Evaluation-head macro F1",
            "Macro-averaged F1 of the same evaluation head, on the test split.",
        ),
        (
            CLASSIFIER_ACCURACY,
            f"Own classifier accuracy ({own} only)",
            "Accuracy of the run's own classification layer (trained with the encoder), on the "
            f"test split; {without}.",
        ),
    )


def fraction_table(data: Data, grid: Cells, dataset: str, input_: str) -> str:
    """Objectives as rows, label fractions as columns, best objective per column in bold."""
    fractions = fractions_of(grid, dataset, input_)
    objectives = objectives_of(grid, data.objectives, dataset, input_)
    top = {f: best({o: grid.get((dataset, input_, o, f)) for o in objectives}) for f in fractions}
    rows = [
        [
            objective_name(o),
            *(cell(grid.get((dataset, input_, o, f)), o in top[f]) for f in fractions),
        ]
        for o in objectives
    ]
    header = ["objective", *(f"{data.fraction_label(dataset, f)} labels" for f in fractions)]
    return md_table(header, rows)


def comparison_table(data: Data, compared: GridComparisons, dataset: str, input_: str) -> str:
    """Each compared objective minus each one it is compared with (CLAR minus each other
    objective) at every fraction, with paired intervals."""
    fractions = fractions_of(data.grid.get(ACCURACY, {}), dataset, input_)
    rows = []
    for (objective, other), found in compared.versus.items():
        mine = [found.get((dataset, input_, f)) for f in fractions]
        if not any(mine):
            continue
        name = f"{objective_short(objective)} − {objective_short(other)}"
        rows.append([name, *(c.cell() if c else MISSING for c in mine)])
    if not rows:
        return ""
    samples = {
        c.interval.sample()
        for table in compared.versus.values()
        for k, c in table.items()
        if k[:2] == (dataset, input_) and c.interval
    }
    header = ["difference (points) [95 % CI]", *(f"{f:g} % labels" for f in fractions)]
    note = f"\nn: {', '.join(sorted(samples))}.\n" if samples else ""
    return "\n" + md_table(header, rows) + note


def _differences(objectives: Collection[str]) -> str:
    """``CLAR's test-accuracy difference to each other objective`` (the objectives that name
    others in ``compared_with``)."""
    mine: dict[str, list[str]] = {}
    for objective, other in compared_pairs(objectives):
        mine.setdefault(objective, []).append(other)
    if not mine:
        return "no objective is compared with another (none names any in compared_with)"
    everyone = objective_order(objectives)
    parts = []
    for objective, others in mine.items():
        rest = [o for o in everyone if o != objective]
        whom = (
            "each other objective"
            if set(others) == set(rest)
            else _and([objective_short(o) for o in others])
        )
        parts.append(f"{objective_short(objective)}'s test-accuracy difference to {whom}")
    return _and(parts)


def table(data: Data, compared: GridComparisons) -> str:
    everyone = " vs ".join(objective_short(o) for o in objective_order(data.objectives))
    differences = _differences(data.objectives)
    text = f"# E3: {everyone} at each label fraction\n\n"
    if not data.grid.get(ACCURACY):
        return text + (
            "No grid runs in this experiment (no rows with experiment = `grid` and metric = "
            "`accuracy`): the profile may skip E2/E3, or its runs have not finished.\n"
        )
    text += (
        "Cells are in %, mean ± sample std over seeds (n seeds); the best objective per label "
        "fraction is in bold. Each section says which metric it shows. A label fraction is "
        "named by its nominal value and what it really gave: the share of the training clips "
        "labelled, their count and the labelled clips per class (fractions round up to at "
        f"least one clip per class). Under the headline metric, {differences}, in points, "
        f"with its {PAIRED}; "
        f"{MARKS_LEGEND}.\n" + grid_augmentations(data)
    )
    for metric, heading, explanation in metrics(data.objectives):
        grid = data.grid.get(metric, {})
        if not grid:
            continue
        text += f"\n## {heading}\n\n{explanation}\n"
        for dataset in data.datasets:
            for input_ in inputs_of(grid, dataset):
                text += f"\n### {dataset}, {input_} input\n\n" + fraction_table(
                    data, grid, dataset, input_
                )
                if metric == ACCURACY:
                    text += comparison_table(data, compared, dataset, input_)
    return text


def _accuracy_panel(ax: Axes, data: Data, grid: Cells, dataset: str) -> None:
    fractions_seen: set[float] = set()
    for input_ in inputs_of(grid, dataset):
        for objective in objectives_of(grid, data.objectives, dataset, input_):
            found = sorted(
                (k[3], s)
                for k, s in grid.items()
                if k[:3] == (dataset, input_, objective) and np.isfinite(k[3])
            )
            if not found:
                continue
            x = np.array([f for f, _ in found])
            label = f"{objective_name(objective)}, {input_}"
            marker = input_marker(input_)
            # Seed means only: a band per cell would invite unpaired comparisons; the paired
            # intervals the verdicts use are drawn below.
            ax.plot(
                x,
                [100 * s.mean for _, s in found],
                input_style(input_),
                color=objective_colour(objective),
                marker=marker,
                label=label,
            )
            fractions_seen.update(x)
    _fraction_axis(ax, data, dataset, fractions_seen)
    ax.set_ylabel("evaluation-head accuracy (%)")
    ax.set_title(dataset)


def _fraction_axis(ax: Axes, data: Data, dataset: str, fractions: set[float]) -> None:
    ax.set_xscale("log")
    ticks = sorted(fractions)
    ax.set_xticks(ticks, [data.fraction_tick(dataset, t) for t in ticks], fontsize="small")
    ax.minorticks_off()
    ax.set_xlabel("label fraction: nominal (real share, labelled clips per class)")
    ax.grid(alpha=0.3)


def _difference_panel(ax: Axes, data: Data, compared: GridComparisons, dataset: str) -> None:
    """Each compared objective minus each other it names (CLAR minus each other objective) at
    every fraction, with the intervals claim 3 uses; the comparisons of a fraction are drawn a
    little apart so that none hides another."""
    fractions_seen: set[float] = set()
    inputs = inputs_of(data.grid.get(ACCURACY, {}), dataset)
    slots = len(compared.versus) * len(inputs)
    for side, ((objective, other), found) in enumerate(compared.versus.items()):
        style = _pair_style(compared, objective)
        for (d, input_, fraction), comparison in sorted(found.items()):
            interval = comparison.interval
            if d != dataset or interval is None:
                continue
            # Slots around each fraction (log axis): one per pair, then per input, so that no
            # interval hides another (the paper's: supervised left, self-supervised right,
            # spectrogram then raw).
            slot = len(inputs) * side + inputs.index(input_) - (slots - 1) / 2
            x = fraction * 1.07**slot
            colour = objective_colour(other)
            ax.plot([x, x], [interval.low, interval.high], color=colour, lw=2, **style["line"])
            ax.plot(x, interval.diff, input_marker(input_), color=colour, ms=5, **style["marker"])
            fractions_seen.add(fraction)
    ax.axhline(0, color="black", lw=0.8)
    _fraction_axis(ax, data, dataset, fractions_seen)
    ax.set_ylabel(f"{_comparers(compared)} − other (points), 95 % CI")
    ax.set_title(f"{dataset}: {_comparers(compared)} − other objective")


def _pair_style(compared: GridComparisons, objective: str) -> dict[str, dict[str, str]]:
    """The colour is the other objective's; a second or later objective that compares (two
    may set themselves against one) is told apart by a dotted line and a hollow marker."""
    if list(dict.fromkeys(o for o, _ in compared.versus)).index(objective) == 0:
        return {"line": {}, "marker": {}}
    return {"line": {"ls": ":"}, "marker": {"mfc": "white"}}


def _comparers(compared: GridComparisons) -> str:
    """``CLAR``: the objectives compared with others, by their short names."""
    return " / ".join(dict.fromkeys(objective_short(o) for o, _ in compared.versus)) or "none"


def figure(data: Data, compared: GridComparisons) -> Figure:
    """Per data set: accuracy against label fraction (log scale) above, the compared
    objectives' differences (CLAR's to the others) with their 95 % intervals below."""
    grid = data.grid.get(ACCURACY, {})
    datasets = [d for d in data.datasets if any(k[0] == d for k in grid)]
    if not datasets:
        return placeholder("E3: no grid runs in this experiment")
    fig = Figure(figsize=(4.8 * len(datasets), 8.4), layout="constrained")
    axes = fig.subplots(2, len(datasets), squeeze=False)
    for column, dataset in enumerate(datasets):
        _accuracy_panel(axes[0, column], data, grid, dataset)
        _difference_panel(axes[1, column], data, compared, dataset)
    # Every panel uses the same colours and line styles, so one legend below them all keeps
    # the curves uncovered.
    legend = {}
    for ax in axes[0]:
        legend.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    for objective, other in compared.versus:
        style = _pair_style(compared, objective)
        line = Line2D(
            [],
            [],
            color=objective_colour(other),
            lw=2,
            marker="o",
            **style["line"],
            **style["marker"],
        )
        difference = f"{objective_short(objective)} − {objective_short(other)}"
        legend[f"below: {difference}, 95 % CI"] = line
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=3)
    shapes = {"o": "circle", "s": "square", "^": "triangle", "D": "diamond", "v": "triangle down"}
    markers = ", ".join(
        f"{shapes.get(input_marker(i), input_marker(i))}: {i}"
        for i in ordered((k[1] for k in grid), encoder_order())
    )
    title(
        fig,
        [
            "E3: evaluation-head accuracy against label fraction (seed means)",
            f"below: {_comparers(compared)}'s paired differences with the 95 % intervals "
            f"claim 3 is judged on ({markers})",
        ],
    )
    return fig
