"""E1, the augmentation study: contrastive training with each single augmentation and each
pair, as one symmetric 6 x 6 matrix of evaluation-head accuracy per data set."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from clar.report.aggregate import Data, best, cells, summarise
from clar.report.figures import panels, placeholder
from clar.report.results import ACCURACY
from clar.report.statistics import Stat
from clar.report.tables import cell, md_table, pct
from clar.runs import AUGMENTATION
from clar.vocabulary import AUGMENTATIONS, COMBO_SEPARATOR, split_combo

Pair = tuple[str, str]  # (a, a) is the single augmentation a
Matrix = dict[Pair, Stat]


@dataclass
class AugmentationStudy:
    """Per (data set, input) the symmetric matrix of evaluation-head accuracy."""

    fraction: float | None
    matrices: dict[tuple[str, str], Matrix]
    axis: list[str]
    skipped: int  # configurations with three or more augmentations: they fit no 6 x 6 cell


def augmentation_study(df: pd.DataFrame) -> AugmentationStudy:
    """Gather the E1 rows of a prepared table into 6 x 6 matrices (diagonal = single
    augmentation)."""
    rows = df[(df["experiment"] == AUGMENTATION) & (df["metric"] == ACCURACY)]
    if rows.empty:
        return AugmentationStudy(None, {}, list(AUGMENTATIONS), 0)
    # The study is scored at 100 % labels; if a profile ran it at another fraction, use the
    # largest present rather than mixing fractions in one matrix.
    fraction = float(rows["fraction"].max()) if rows["fraction"].notna().any() else None
    if fraction is not None:
        rows = rows[rows["fraction"] == fraction]
    by = ("dataset", "input", "augmentations")
    found = cells(summarise(rows, experiment=AUGMENTATION, metric=ACCURACY, by=by), by)
    names = {n for k in found for n in split_combo(k[2])}
    axis = [*AUGMENTATIONS, *sorted(names - set(AUGMENTATIONS))]
    matrices: dict[tuple[str, str], Matrix] = {}
    skipped = 0
    for (dataset, input_, augs), stat in found.items():
        parts = split_combo(augs)
        if len(parts) not in (1, 2):
            skipped += 1
            continue
        a, b = parts[0], parts[-1]
        matrix = matrices.setdefault((dataset, input_), {})
        matrix[(a, b)] = matrix[(b, a)] = stat
    return AugmentationStudy(fraction, matrices, axis, skipped)


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


def at_labels(fraction: float | None) -> str:
    return "" if fraction is None or math.isnan(fraction) else f" at {pct(fraction)} labels"


def pair_name(pair: Pair) -> str:
    """``("fade", "time_mask")`` -> ``fade + time_mask``; a single augmentation by its name."""
    return f" {COMBO_SEPARATOR} ".join(dict.fromkeys(pair))


def table(data: Data, study: AugmentationStudy) -> str:
    text = "# E1: augmentation study\n\n"
    if not study.matrices:
        return text + (
            "No augmentation-study runs in this experiment (no rows with experiment = "
            "`augmentation`): the profile may skip E1, or its runs have not finished.\n"
        )
    text += (
        "Contrastive training with each single augmentation (diagonal) and each pair "
        f"(off-diagonal, symmetric), scored by the evaluation head{at_labels(study.fraction)}"
        " on the test split: accuracy in %, mean ± sample std over seeds (n seeds). "
        "The best cell is in bold.\n"
    )
    if study.skipped:
        text += (
            f"\n{study.skipped} configuration(s) with three or more augmentations are not shown "
            "(they have no cell in a pairwise matrix).\n"
        )
    for key in study_keys(study, data.datasets):
        matrix = study.matrices[key]
        top = best(dict(matrix))
        rows = [
            [f"**{a}**", *(cell(matrix.get((a, b)), (a, b) in top) for b in study.axis)]
            for a in study.axis
        ]
        text += f"\n## {study_label(study, key)}\n\n" + md_table(["", *study.axis], rows)
    return text


def figure(data: Data, study: AugmentationStudy) -> Figure:
    """One heat map per matrix, the best cell framed in red."""
    keys = study_keys(study, data.datasets)
    if not keys:
        return placeholder("E1: no augmentation-study runs in this experiment")
    fig, axes = panels(len(keys), width=5.6, height=5.0)
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
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap)
        finite = grid[np.isfinite(grid)]
        middle = (finite.min() + finite.max()) / 2
        for i in range(len(study.axis)):
            for j in range(len(study.axis)):
                if np.isfinite(grid[i, j]):
                    colour = "black" if grid[i, j] > middle else "white"
                    ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", color=colour)
        for a, b in sorted(best(dict(matrix))):
            i, j = study.axis.index(a), study.axis.index(b)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
        ax.set_xticks(range(len(short)), short, rotation=45, ha="right")
        ax.set_yticks(range(len(short)), short)
        ax.set_title(study_label(study, key))
        fig.colorbar(image, ax=ax, label="evaluation-head accuracy (%)", shrink=0.8)
    fig.suptitle(f"E1: augmentation study{at_labels(study.fraction)} (red: best cell)")
    return fig
