"""E1, the augmentation study: contrastive training with each single augmentation and each
pair, as one symmetric matrix of evaluation-head accuracy per data set, and the paired
comparisons claim 1 is judged on.

Which cell is "best" or "worst" is chosen on the evaluation head's *validation* accuracy, and
only then is the chosen pair's *test* difference measured: choosing on the test split and
judging on it would make any spread look real.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from clar.report.aggregate import Data, Key, best, cells, summarise
from clar.report.comparisons import compare
from clar.report.figures import panels, placeholder, title
from clar.report.intervals import PAIRED
from clar.report.per_clip import Config
from clar.report.results import ACCURACY, VALID_ACCURACY
from clar.report.statistics import Stat
from clar.report.tables import MISSING, cell, md_table
from clar.report.verdicts import (
    CONTRADICTED,
    INCONCLUSIVE,
    MARKS,
    MARKS_LEGEND,
    SUPPORTED,
    Comparison,
)
from clar.runs import AUGMENTATION
from clar.vocabulary import AUGMENTATIONS, BEST_PAIR, COMBO_SEPARATOR, join_combo, split_combo

Pair = tuple[str, str]  # (a, a) is the single augmentation a
Matrix = dict[Pair, Stat]
STUDY_KEYS = ("dataset", "input", "augmentations")


@dataclass
class AugmentationStudy:
    """Per (data set, input) the symmetric matrices of test and validation accuracy."""

    fraction: float | None
    matrices: dict[tuple[str, str], Matrix]  # test accuracy
    axis: list[str]
    skipped: int  # configurations with three or more augmentations: they fit no 6 x 6 cell
    valid: dict[tuple[str, str], Matrix]  # the evaluation head's validation accuracy
    objective: str = ""  # the objective the study trained (contrastive)


def _matrices(found: dict[Key, Stat]) -> tuple[dict[tuple[str, str], Matrix], int]:
    matrices: dict[tuple[str, str], Matrix] = {}
    skipped = 0
    for (dataset, input_, augs), stat in found.items():
        parts = split_combo(str(augs))
        if len(parts) not in (1, 2):
            skipped += 1
            continue
        a, b = parts[0], parts[-1]
        matrix = matrices.setdefault((str(dataset), str(input_)), {})
        matrix[(a, b)] = matrix[(b, a)] = stat
    return matrices, skipped


def augmentation_study(df: pd.DataFrame) -> AugmentationStudy:
    """Gather the E1 rows of a prepared table into matrices (diagonal = single augmentation)."""
    rows = df[(df["experiment"] == AUGMENTATION) & (df["metric"].isin([ACCURACY, VALID_ACCURACY]))]
    if rows.empty:
        return AugmentationStudy(None, {}, list(AUGMENTATIONS), 0, {})
    # The study is scored at 100 % labels; if a profile ran it at another fraction, use the
    # largest present rather than mixing fractions in one matrix.
    fraction = float(rows["fraction"].max()) if rows["fraction"].notna().any() else None
    if fraction is not None:
        rows = rows[rows["fraction"] == fraction]
    found = {
        metric: cells(
            summarise(rows, experiment=AUGMENTATION, metric=metric, by=STUDY_KEYS), STUDY_KEYS
        )
        for metric in (ACCURACY, VALID_ACCURACY)
    }
    matrices, skipped = _matrices(found[ACCURACY])
    valid, _ = _matrices(found[VALID_ACCURACY])
    names = {n for k in found[ACCURACY] for n in split_combo(str(k[2]))}
    # Only the augmentations some cell used: a profile that runs five combinations gets a
    # small matrix rather than a mostly empty 6 x 6.
    axis = [a for a in AUGMENTATIONS if a in names] + sorted(names - set(AUGMENTATIONS))
    objective = str(rows["objective"].mode().iloc[0])
    return AugmentationStudy(fraction, matrices, axis, skipped, valid, objective)


def study_label(study: AugmentationStudy, key: tuple[str, str]) -> str:
    """The data set's name, plus the input when the study was run on several inputs."""
    several_inputs = len({k[1] for k in study.matrices}) > 1
    return f"{key[0]}, {key[1]} input" if several_inputs else key[0]


def study_keys(study: AugmentationStudy, datasets: Sequence[str]) -> list[tuple[str, str]]:
    """The matrices' (data set, input) keys in the report's data set order."""
    order = {d: i for i, d in enumerate(datasets)}
    return sorted(study.matrices, key=lambda k: (order.get(k[0], len(order)), k[0], k[1]))


def unique_cells(matrix: Matrix, axis: Sequence[str]) -> Matrix:
    """Each single and each unordered pair once, named in the paper's order."""
    return {(a, b): s for (a, b), s in matrix.items() if axis.index(a) <= axis.index(b)}


def at_labels(data: Data, dataset: str, fraction: float | None) -> str:
    if fraction is None or math.isnan(fraction):
        return ""
    return f" at {data.fraction_label(dataset, fraction)} labels"


def pair_name(pair: Pair) -> str:
    """``("fade", "time_mask")`` -> ``fade + time_mask``; a single augmentation by its name."""
    return f" {COMBO_SEPARATOR} ".join(dict.fromkeys(pair))


def config(study: AugmentationStudy, key: tuple[str, str], pair: Pair) -> Config:
    """The per-clip configuration of one cell."""
    augs = join_combo(dict.fromkeys(pair))
    return (AUGMENTATION, key[0], key[1], study.objective, study.fraction, augs)


# ---- the comparisons of claim 1 ---------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """The best and the worst cell of one matrix by validation accuracy, and their test
    difference."""

    best: Pair | None
    worst: Pair | None
    comparison: Comparison


def spread(data: Data, study: AugmentationStudy, key: tuple[str, str]) -> Spread:
    """Best minus worst cell, both chosen on validation accuracy, measured on test clips."""
    label = study_label(study, key)
    valid = unique_cells(study.valid.get(key, {}), study.axis)
    if len(valid) < 2:
        why = (
            "no validation accuracy recorded"
            if not valid
            else "only one cell has a validation accuracy"
        )
        return Spread(None, None, Comparison(label, None, why))
    # Ties on validation accuracy break by the paper's order, so the choice is reproducible.
    ranked = sorted(valid, key=lambda c: (-valid[c].mean, study.axis.index(c[0]), c))
    top, bottom = ranked[0], ranked[-1]
    name = (
        f"{label}: {pair_name(top)} (validation {100 * valid[top].mean:.1f} %) − "
        f"{pair_name(bottom)} (validation {100 * valid[bottom].mean:.1f} %), on test clips"
    )
    comparison = compare(data.clips, config(study, key, top), config(study, key, bottom), name)
    return Spread(top, bottom, comparison)


def versus_best_pair(
    data: Data, study: AugmentationStudy, key: tuple[str, str]
) -> dict[Pair, Comparison]:
    """The paper's best pair minus every other measured cell (singles too: the table shows
    them; claim 1 uses the pairs)."""
    matrix = unique_cells(study.matrices[key], study.axis)
    if BEST_PAIR not in matrix:
        return {}
    target = config(study, key, BEST_PAIR)
    return {
        c: compare(
            data.clips, target, config(study, key, c), f"{pair_name(BEST_PAIR)} − {pair_name(c)}"
        )
        for c in matrix
        if c != BEST_PAIR
    }


# ---- table and figure ---------------------------------------------------------------------------


def table(data: Data, study: AugmentationStudy) -> str:
    text = "# E1: augmentation study\n\n"
    if not study.matrices:
        return text + (
            "No augmentation-study runs in this experiment (no rows with experiment = "
            "`augmentation`): the profile may skip E1, or its runs have not finished.\n"
        )
    text += (
        "Contrastive training with each single augmentation (diagonal) and each pair "
        "(off-diagonal, symmetric), scored by the evaluation head on the test split: accuracy "
        "in %, mean ± sample std over seeds (n seeds). The cell with the best validation "
        "accuracy (the one claim 1 chooses) is in bold. The second "
        "table per data set lists each cell's validation accuracy (what the best and the worst "
        f"cell are chosen on) and its test difference to {pair_name(BEST_PAIR)} (the paper's "
        f"best pair, and the views of the E2-E4 grid) with its {PAIRED}, "
        f"in points; {MARKS_LEGEND} (positive: {pair_name(BEST_PAIR)} better).\n"
    )
    if study.skipped:
        text += (
            f"\n{study.skipped} configuration(s) with three or more augmentations are not shown "
            "(they have no cell in a pairwise matrix).\n"
        )
    for key in study_keys(study, data.datasets):
        matrix = study.matrices[key]
        # Bold goes where claim 1 looks: the best validation accuracy, never the best test one.
        top = best(dict(study.valid.get(key, {})))
        rows = [
            [f"**{a}**", *(cell(matrix.get((a, b)), (a, b) in top) for b in study.axis)]
            for a in study.axis
        ]
        text += f"\n## {study_label(study, key)}\n\n"
        if study.fraction is not None and not math.isnan(study.fraction):
            text += f"Labels: {data.fraction_label(key[0], study.fraction)}.\n\n"
        text += md_table(["", *study.axis], rows)
        versus = versus_best_pair(data, study, key)
        valid = study.valid.get(key, {})
        rows = []
        for c, stat in sorted(unique_cells(matrix, study.axis).items(), key=lambda kv: -kv[1].mean):
            compared = versus.get(c)
            rows.append(
                [
                    pair_name(c),
                    cell(stat),
                    cell(valid.get(c)),
                    "(reference)" if c == BEST_PAIR else compared.cell() if compared else MISSING,
                    compared.interval.sample() if compared and compared.interval else MISSING,
                ]
            )
        header = [
            "cell",
            "test accuracy",
            "validation accuracy",
            f"{pair_name(BEST_PAIR)} − cell (points) [95 % CI]",
            "n",
        ]
        text += "\n" + md_table(header, rows)
    return text


def _colour_range(grid: np.ndarray, versus: dict[Pair, Comparison]) -> tuple[float, float]:
    """The colour scale: the cells' range, widened to at least ± the median 95 % interval
    half-width around their middle, so that cells inside each other's noise look alike."""
    finite = grid[np.isfinite(grid)]
    low, high = float(finite.min()), float(finite.max())
    # Accuracy lives in [0, 100]: the widened scale never leaves it.
    halves = [(c.interval.high - c.interval.low) / 2 for c in versus.values() if c.interval]
    if halves:
        noise = float(np.median(halves))
        middle = (low + high) / 2
        low, high = max(0.0, min(low, middle - noise)), min(100.0, max(high, middle + noise))
    return low, high


def figure(data: Data, study: AugmentationStudy) -> Figure:
    """One heat map per matrix: the best and the worst cell on validation accuracy (the cells
    claim 1 compares) framed, each cell marked by its interval against the paper's pair."""
    keys = study_keys(study, data.datasets)
    if not keys:
        return placeholder("E1: no augmentation-study runs in this experiment")
    size = 1.0 + 0.8 * len(study.axis)
    fig, axes = panels(len(keys), width=size + 1.8, height=size + 0.9)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    short = [name.replace("_", " ") for name in study.axis]
    for ax, key in zip(axes, keys, strict=False):
        matrix = study.matrices[key]
        grid = np.array(
            [
                [100 * matrix[(a, b)].mean if (a, b) in matrix else np.nan for b in study.axis]
                for a in study.axis
            ]
        )
        versus = versus_best_pair(data, study, key)
        vmin, vmax = _colour_range(grid, versus)
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax)
        middle = (vmin + vmax) / 2
        for i, a in enumerate(study.axis):
            for j, b in enumerate(study.axis):
                if not np.isfinite(grid[i, j]):
                    continue
                pair = (a, b) if study.axis.index(a) <= study.axis.index(b) else (b, a)
                compared = versus.get(pair)
                mark = (
                    "ref"
                    if pair == BEST_PAIR
                    else MARKS.get(compared.state, "")
                    if compared
                    else ""
                )
                colour = "black" if grid[i, j] > middle else "white"
                text = f"{grid[i, j]:.1f}\n{mark}"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize="small")
        chosen = spread(data, study, key)
        for pair, style in ((chosen.best, "-"), (chosen.worst, "--")):
            if pair is None:
                continue
            i, j = study.axis.index(pair[0]), study.axis.index(pair[1])
            for r, c in {(i, j), (j, i)}:
                ax.add_patch(
                    Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="red", lw=2.2, ls=style)
                )
        ax.set_xticks(range(len(short)), short, rotation=45, ha="right")
        ax.set_yticks(range(len(short)), short)
        interval = chosen.comparison.interval
        verdict = (
            f"best − worst on test: {interval.cell()} points"
            if interval
            else f"best − worst: {chosen.comparison.why}"
        )
        ax.set_title(
            f"{study_label(study, key)}{at_labels(data, key[0], study.fraction)}\n{verdict}",
            fontsize="medium",
        )
        fig.colorbar(image, ax=ax, label="test accuracy (%)", shrink=0.8)
    title(
        fig,
        [
            "E1: evaluation-head test accuracy per augmentation (diagonal: single; grey: not run)",
            "red frame: best cell on validation accuracy, dashed: worst (the cells claim 1 "
            f"compares); marks: {pair_name(BEST_PAIR)} − cell, each alone: "
            f"{MARKS[SUPPORTED]} above zero, {MARKS[CONTRADICTED]} below, "
            f"{MARKS[INCONCLUSIVE]} includes zero",
            "colours span at least the median 95 % interval, so cells within the noise look alike",
        ],
    )
    return fig
