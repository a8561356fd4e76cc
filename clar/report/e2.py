"""E2: raw waveform against spectrogram input, per objective, at 100 % labels."""

from __future__ import annotations

from matplotlib.figure import Figure

from clar.report.aggregate import OBJECTIVES, Data, best, objective_name, ordered
from clar.report.comparisons import GridComparisons
from clar.report.figures import STATE_COLOURS, panels, placeholder, title
from clar.report.intervals import PAIRED
from clar.report.results import ACCURACY
from clar.report.tables import MISSING, cell, grid_augmentations, md_table, pct
from clar.report.verdicts import INCONCLUSIVE, MARKS_LEGEND
from clar.vocabulary import FULL_FRACTION, RAW, SPECTROGRAM


def table(data: Data, compared: GridComparisons) -> str:
    """Per data set: objectives as rows, raw and spectrogram side by side, and their gap."""
    grid = data.grid.get(ACCURACY, {})
    text = "# E2: raw waveform vs spectrogram\n\n"
    datasets = [d for d in data.datasets if any(k[0] == d and k[3] == FULL_FRACTION for k in grid)]
    if not datasets:
        return text + (
            f"No grid runs at {pct(FULL_FRACTION)} labels in this experiment (no rows with "
            "experiment = `grid` and metric = `accuracy`): the profile may skip E2/E3, or its "
            "runs have not finished.\n"
        )
    text += (
        f"Evaluation-head accuracy on the test split at {pct(FULL_FRACTION)} labels, in %, "
        "mean ± sample std over seeds (n seeds). *spectrogram − raw* is the difference in "
        f"percentage points (positive: spectrogram better) with its {PAIRED} and what it "
        "rests on; "
        f"{MARKS_LEGEND}. The best objective per input column is in bold.\n"
        + grid_augmentations(data)
    )
    for dataset in datasets:
        objectives = ordered(
            (k[2] for k in grid if k[0] == dataset and k[3] == FULL_FRACTION), OBJECTIVES
        )
        column = {
            i: {o: grid.get((dataset, i, o, FULL_FRACTION)) for o in objectives}
            for i in (RAW, SPECTROGRAM)
        }
        top = {i: best(column[i]) for i in column}
        rows = []
        for o in objectives:
            raw, spec = column[RAW][o], column[SPECTROGRAM][o]
            compared_ = compared.inputs.get((dataset, o))
            interval = compared_.interval if compared_ else None
            rows.append(
                [
                    objective_name(o),
                    cell(raw, o in top[RAW]),
                    cell(spec, o in top[SPECTROGRAM]),
                    compared_.cell() if compared_ else MISSING,
                    interval.sample() if interval else MISSING,
                ]
            )
        header = [
            "objective",
            RAW,
            SPECTROGRAM,
            f"{SPECTROGRAM} − {RAW} (points) [95 % CI]",
            "n",
        ]
        labels = data.fraction_label(dataset, FULL_FRACTION)
        text += f"\n## {dataset}\n\nLabels: {labels}.\n\n" + md_table(header, rows)
    return text


def figure(
    data: Data, compared: GridComparisons, corrected: dict[str, str] | None = None
) -> Figure:
    """Per data set, spectrogram − raw for each objective with the 95 % interval the claim is
    judged on, and the two accuracies under each objective's name. ``corrected`` maps a
    comparison's name to its state after claim 2's correction (what the colour shows); a
    comparison absent from it is coloured by its own interval."""
    corrected = corrected or {}
    grid = data.grid.get(ACCURACY, {})
    datasets = [d for d in data.datasets if any(k[0] == d for k in compared.inputs)]
    if not datasets:
        return placeholder(f"E2: no data set has both inputs at {pct(FULL_FRACTION)} labels")
    fig, axes = panels(len(datasets), width=4.6, height=3.6)
    for ax, dataset in zip(axes, datasets, strict=False):
        objectives = ordered((k[1] for k in compared.inputs if k[0] == dataset), OBJECTIVES)
        ticks = []
        for x, objective in enumerate(objectives):
            comparison = compared.inputs[(dataset, objective)]
            raw = grid.get((dataset, RAW, objective, FULL_FRACTION))
            spec = grid.get((dataset, SPECTROGRAM, objective, FULL_FRACTION))
            means = f"{100 * raw.mean:.1f} → {100 * spec.mean:.1f} %" if raw and spec else ""
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
        ax.set_ylabel(f"{SPECTROGRAM} − {RAW} (points)")
        ax.set_title(dataset)
        ax.grid(axis="y", alpha=0.3)
    title(
        fig,
        [
            f"E2: spectrogram − raw test accuracy at {pct(FULL_FRACTION)} labels, 95 % "
            "interval; under each objective: raw → spectrogram",
            "colour: claim 2's verdict after Holm's correction (green: supported, red: "
            "contradicted, grey: inconclusive; hollow: the interval alone excludes zero)",
        ],
    )
    return fig
