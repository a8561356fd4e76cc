"""E3: supervised, self-supervised and CLAR at each label fraction."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from clar.report.aggregate import (
    Cells,
    Data,
    best,
    fractions_of,
    inputs_of,
    objective_name,
    objectives_of,
)
from clar.report.comparisons import GridComparisons
from clar.report.figures import (
    INPUT_MARKERS,
    INPUT_STYLES,
    OBJECTIVE_COLOURS,
    OTHER_INPUT_MARKER,
    OTHER_INPUT_STYLE,
    placeholder,
    title,
)
from clar.report.intervals import PAIRED
from clar.report.results import ACCURACY, CLASSIFIER_ACCURACY, MACRO_F1
from clar.report.tables import MISSING, cell, grid_augmentations, md_table
from clar.report.verdicts import MARKS_LEGEND
from clar.vocabulary import CONTRASTIVE, RAW, SUPERVISED

# The metrics shown, each as (metric, section title, what it measures).
E3_METRICS = (
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
        "Own classifier accuracy (supervised and CLAR only)",
        "Accuracy of the run's own classification layer (trained with the encoder), on the test "
        "split; the self-supervised model has none.",
    ),
)


def fraction_table(data: Data, grid: Cells, dataset: str, input_: str) -> str:
    """Objectives as rows, label fractions as columns, best objective per column in bold."""
    fractions = fractions_of(grid, dataset, input_)
    objectives = objectives_of(grid, dataset, input_)
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
    """CLAR minus each other objective at every fraction, with paired intervals."""
    fractions = fractions_of(data.grid.get(ACCURACY, {}), dataset, input_)
    rows = []
    for name, found in (
        ("CLAR − supervised", compared.vs_supervised),
        ("CLAR − self-supervised", compared.vs_self_supervised),
    ):
        mine = [found.get((dataset, input_, f)) for f in fractions]
        if not any(mine):
            continue
        rows.append([name, *(c.cell() if c else MISSING for c in mine)])
    if not rows:
        return ""
    samples = {
        c.interval.sample()
        for table in (compared.vs_supervised, compared.vs_self_supervised)
        for k, c in table.items()
        if k[:2] == (dataset, input_) and c.interval
    }
    header = ["difference (points) [95 % CI]", *(f"{f:g} % labels" for f in fractions)]
    note = f"\nn: {', '.join(sorted(samples))}.\n" if samples else ""
    return "\n" + md_table(header, rows) + note


def table(data: Data, compared: GridComparisons) -> str:
    text = "# E3: supervised vs self-supervised vs CLAR at each label fraction\n\n"
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
        "least one clip per class). Under the headline metric, CLAR's test-accuracy "
        f"difference to each other objective, in points, with its {PAIRED}; "
        f"{MARKS_LEGEND}.\n" + grid_augmentations(data)
    )
    for metric, heading, explanation in E3_METRICS:
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
        for objective in objectives_of(grid, dataset, input_):
            found = sorted(
                (k[3], s)
                for k, s in grid.items()
                if k[:3] == (dataset, input_, objective) and np.isfinite(k[3])
            )
            if not found:
                continue
            x = np.array([f for f, _ in found])
            label = f"{objective_name(objective)}, {input_}"
            marker = INPUT_MARKERS.get(input_, OTHER_INPUT_MARKER)
            # Seed means only: a band per cell would invite unpaired comparisons; the paired
            # intervals the verdicts use are drawn below.
            ax.plot(
                x,
                [100 * s.mean for _, s in found],
                INPUT_STYLES.get(input_, OTHER_INPUT_STYLE),
                color=OBJECTIVE_COLOURS.get(objective),
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
    """CLAR minus each other objective at every fraction, with the intervals claim 3 uses;
    the two comparisons of a fraction are drawn a little apart so neither hides the other."""
    fractions_seen: set[float] = set()
    for side, (other, found) in enumerate(
        ((SUPERVISED, compared.vs_supervised), (CONTRASTIVE, compared.vs_self_supervised))
    ):
        for (d, input_, fraction), comparison in sorted(found.items()):
            interval = comparison.interval
            if d != dataset or interval is None:
                continue
            # Four slots around each fraction (log axis): supervised left, self-supervised
            # right, spectrogram then raw, so that no interval hides another.
            slot = 2 * side + (input_ == RAW) - 1.5
            x = fraction * 1.07**slot
            colour = OBJECTIVE_COLOURS.get(other)
            ax.plot([x, x], [interval.low, interval.high], color=colour, lw=2)
            marker = INPUT_MARKERS.get(input_, OTHER_INPUT_MARKER)
            ax.plot(x, interval.diff, marker, color=colour, ms=5)
            fractions_seen.add(fraction)
    ax.axhline(0, color="black", lw=0.8)
    _fraction_axis(ax, data, dataset, fractions_seen)
    ax.set_ylabel("CLAR − other (points), 95 % CI")
    ax.set_title(f"{dataset}: CLAR − other objective")


def figure(data: Data, compared: GridComparisons) -> Figure:
    """Per data set: accuracy against label fraction (log scale) above, CLAR's differences to
    the other objectives with their 95 % intervals below."""
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
    for other, name in ((SUPERVISED, "supervised"), (CONTRASTIVE, "self-supervised")):
        line = Line2D([], [], color=OBJECTIVE_COLOURS.get(other), lw=2, marker="o")
        legend[f"below: CLAR − {name}, 95 % CI"] = line
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=3)
    title(
        fig,
        [
            "E3: evaluation-head accuracy against label fraction (seed means)",
            "below: CLAR's paired differences with the 95 % intervals claim 3 is judged on "
            "(circle: spectrogram, square: raw)",
        ],
    )
    return fig
