"""E2: raw waveform against spectrogram input, per objective, at 100 % labels."""

from __future__ import annotations

from clar.report.aggregate import OBJECTIVES, Data, best, objective_name, ordered
from clar.report.comparisons import GridComparisons
from clar.report.results import ACCURACY
from clar.report.tables import MISSING, cell, grid_augmentations, md_table, pct
from clar.report.verdicts import MARKS_LEGEND
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
        "percentage points (positive: spectrogram better) with its paired 95 % bootstrap "
        "interval (runs paired by seed; seeds, then test clips resampled) and what it rests on; "
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
