"""E2: the encoders of ``grid.inputs`` against the first (spectrogram against raw waveform by
default), per objective, at 100 % labels."""

from __future__ import annotations

from matplotlib.figure import Figure

from clar.report.aggregate import (
    Data,
    best,
    encoder_title,
    objective_name,
    objective_order,
    ordered,
)
from clar.report.comparisons import GridComparisons, encoder_pairs
from clar.report.figures import STATE_COLOURS, panels, placeholder, title
from clar.report.intervals import PAIRED
from clar.report.results import ACCURACY
from clar.report.tables import MISSING, cell, grid_augmentations, md_table, pct
from clar.report.verdicts import INCONCLUSIVE, MARKS_LEGEND
from clar.vocabulary import FULL_FRACTION


def _differences(data: Data) -> str:
    """``spectrogram − raw``, each encoder after the first minus the first."""
    return ", ".join(f"*{e} − {b}*" for e, b in encoder_pairs(data)) or "*none*"


def table(data: Data, compared: GridComparisons) -> str:
    """Per data set: objectives as rows, the encoders side by side, and each one's gap to the
    first."""
    grid = data.grid.get(ACCURACY, {})
    text = f"# E2: {' vs '.join(encoder_title(i) for i in data.inputs) or 'encoders'}\n\n"
    datasets = [d for d in data.datasets if any(k[0] == d and k[3] == FULL_FRACTION for k in grid)]
    if not datasets:
        return text + (
            f"No grid runs at {pct(FULL_FRACTION)} labels in this experiment (no rows with "
            "experiment = `grid` and metric = `accuracy`): the profile may skip E2/E3, or its "
            "runs have not finished.\n"
        )
    pairs = encoder_pairs(data)
    text += (
        f"Evaluation-head accuracy on the test split at {pct(FULL_FRACTION)} labels, in %, "
        f"mean ± sample std over seeds (n seeds). {_differences(data)} is the difference in "
        f"percentage points (positive: {', '.join(e for e, _ in pairs) or 'the first'} better) "
        f"with its {PAIRED} and what it rests on; "
        f"{MARKS_LEGEND}. The best objective per input column is in bold.\n"
        + grid_augmentations(data)
    )
    for dataset in datasets:
        objectives = ordered(
            (k[2] for k in grid if k[0] == dataset and k[3] == FULL_FRACTION),
            objective_order(data.objectives),
        )
        column = {
            i: {o: grid.get((dataset, i, o, FULL_FRACTION)) for o in objectives}
            for i in data.inputs
        }
        top = {i: best(column[i]) for i in column}
        rows = []
        for o in objectives:
            row = [objective_name(o), *(cell(column[i][o], o in top[i]) for i in data.inputs)]
            for pair in pairs:
                compared_ = compared.inputs[pair].get((dataset, o))
                interval = compared_.interval if compared_ else None
                row += [
                    compared_.cell() if compared_ else MISSING,
                    interval.sample() if interval else MISSING,
                ]
            rows.append(row)
        header = ["objective", *data.inputs]
        for encoder, baseline in pairs:
            header += [f"{encoder} − {baseline} (points) [95 % CI]", "n"]
        labels = data.fraction_label(dataset, FULL_FRACTION)
        text += f"\n## {dataset}\n\nLabels: {labels}.\n\n" + md_table(header, rows)
    return text


def figure(
    data: Data, compared: GridComparisons, corrected: dict[str, str] | None = None
) -> Figure:
    """Per data set (and encoder after the first), spectrogram − raw for each objective with
    the 95 % interval the claim is judged on, and the two accuracies under each objective's
    name. ``corrected`` maps a comparison's name to its state after claim 2's correction
    (what the colour shows); a comparison absent from it is coloured by its own interval."""
    corrected = corrected or {}
    grid = data.grid.get(ACCURACY, {})
    pairs = encoder_pairs(data)
    keys = [
        (d, p) for p in pairs for d in data.datasets if any(k[0] == d for k in compared.inputs[p])
    ]
    if not keys:
        return placeholder(f"E2: no data set has both inputs at {pct(FULL_FRACTION)} labels")
    fig, axes = panels(len(keys), width=4.6, height=3.6)
    for ax, (dataset, pair) in zip(axes, keys, strict=False):
        found = compared.inputs[pair]
        encoder, baseline = pair
        objectives = ordered(
            (k[1] for k in found if k[0] == dataset), objective_order(data.objectives)
        )
        ticks = []
        for x, objective in enumerate(objectives):
            comparison = found[(dataset, objective)]
            theirs = grid.get((dataset, baseline, objective, FULL_FRACTION))
            mine = grid.get((dataset, encoder, objective, FULL_FRACTION))
            means = f"{100 * theirs.mean:.1f} → {100 * mine.mean:.1f} %" if theirs and mine else ""
            ticks.append(f"{objective_name(objective)}\n{means}")
            interval = comparison.interval
            if interval is None:
                ax.text(x, 0, "cannot be\njudged", ha="center", va="center", fontsize="small")
                continue
            state = corrected.get(comparison.name, comparison.state)
            colour = STATE_COLOURS[state]
            # Hollow: the interval alone excludes zero, the correction over the claim does not.
            hollow = state == INCONCLUSIVE and interval.excludes_zero()
            ax.plot([x, x], [interval.low, interval.high], color=colour, lw=2.5)
            ax.plot(x, interval.diff, "o", color=colour, mfc="white" if hollow else colour, ms=6)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(objectives)), ticks, fontsize="small")
        ax.set_xlim(-0.6, len(objectives) - 0.4)
        ax.set_ylabel(f"{encoder} − {baseline} (points)")
        ax.set_title(dataset if len(pairs) == 1 else f"{dataset}: {encoder} − {baseline}")
        ax.grid(axis="y", alpha=0.3)
    differences = ", ".join(f"{e} − {b}" for e, b in pairs)
    arrows = ", ".join(f"{b} → {e}" for e, b in pairs)
    title(
        fig,
        [
            f"E2: {differences} test accuracy at {pct(FULL_FRACTION)} labels, 95 % "
            f"interval; under each objective: {arrows}",
            "colour: claim 2's verdict after Holm's correction (green: supported, red: "
            "contradicted, grey: inconclusive; hollow: the interval alone excludes zero)",
        ],
    )
    return fig
