"""E3: supervised, self-supervised and CLAR at each label fraction."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

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
    OTHER_INPUT_MARKER,
    mean_with_band,
    panels,
    placeholder,
)
from clar.report.results import ACCURACY, CLASSIFIER_ACCURACY, MACRO_F1
from clar.report.tables import MISSING, cell, grid_augmentations, md_table
from clar.report.verdicts import MARKS_LEGEND

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
        "difference to each other objective, in points, with its paired 95 % bootstrap "
        f"interval (runs paired by seed; seeds, then test clips resampled); {MARKS_LEGEND}.\n"
        + grid_augmentations(data)
    )
    for metric, title, explanation in E3_METRICS:
        grid = data.grid.get(metric, {})
        if not grid:
            continue
        text += f"\n## {title}\n\n{explanation}\n"
        for dataset in data.datasets:
            for input_ in inputs_of(grid, dataset):
                text += f"\n### {dataset}, {input_} input\n\n" + fraction_table(
                    data, grid, dataset, input_
                )
                if metric == ACCURACY:
                    text += comparison_table(data, compared, dataset, input_)
    return text


def figure(data: Data) -> Figure:
    """Accuracy against label fraction (log scale), one panel per data set."""
    grid = data.grid.get(ACCURACY, {})
    datasets = [d for d in data.datasets if any(k[0] == d for k in grid)]
    if not datasets:
        return placeholder("E3: no grid runs in this experiment")
    fig, axes = panels(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=False):
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
                stats = [s for _, s in found]
                marker = INPUT_MARKERS.get(input_, OTHER_INPUT_MARKER)
                mean_with_band(ax, x, stats, objective, input_, label, marker=marker)
                fractions_seen.update(x)
        ax.set_xscale("log")
        ticks = sorted(fractions_seen)
        ax.set_xticks(ticks, [data.fraction_tick(dataset, t) for t in ticks], fontsize="small")
        ax.minorticks_off()
        ax.set_xlabel("label fraction: nominal (real share, labelled clips per class)")
        ax.set_ylabel("evaluation-head accuracy (%)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    # Every panel uses the same colours and line styles, so one legend below them all keeps
    # the curves uncovered.
    legend = {}
    for ax in axes:
        legend.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=3)
    fig.suptitle("E3: accuracy against label fraction (band: ± one std over seeds)")
    return fig
