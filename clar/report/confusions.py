"""The confusion matrix of the best grid configuration of each data set."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from clar.report.aggregate import GRID_KEYS, Data, Key, objective_name
from clar.report.figures import panels, placeholder
from clar.report.results import ACCURACY, CONFUSION, VALID_ACCURACY
from clar.report.statistics import Stat
from clar.report.tables import pct
from clar.runs import GRID

# A class name may not contain "/": the first one after the prefix ends the true class.
_TRUE_AND_PREDICTED = rf"^{re.escape(CONFUSION)}([^/]+)/(.+)$"
# Cell annotations become unreadable beyond about a dozen classes.
_ANNOTATED_CLASSES = 12


@dataclass(frozen=True)
class Confusion:
    """Pooled test-split counts of the best grid configuration of one data set."""

    dataset: str
    key: Key  # (dataset, input, objective, fraction)
    accuracy: Stat | None
    seeds: tuple[int, ...]
    classes: tuple[str, ...]
    counts: np.ndarray  # [classes, classes]: rows true class, columns predicted class
    valid: Stat | None = None  # what it was chosen on; None: chosen on test accuracy

    @property
    def normalised(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros_like(self.counts), where=totals > 0)

    def title(self) -> str:
        _, input_, objective, fraction = self.key
        seeds = ", ".join(str(s) for s in self.seeds)
        chosen = (
            f"chosen on validation accuracy {self.valid.format()}"
            if self.valid
            else "chosen on test accuracy (no validation accuracy recorded)"
        )
        acc = f"test accuracy {self.accuracy.format()}" if self.accuracy else ""
        return (
            f"{self.dataset}: {objective_name(str(objective))}, {input_} input, "
            f"{pct(float(fraction))} labels\n{chosen}\n{acc}; counts of seed(s) {seeds}"
        )


def best_confusions(data: Data, run_info: dict) -> dict[str, Confusion]:
    """Per data set, the confusion counts of its grid configuration with the highest
    seed-mean *validation* accuracy of the evaluation head (choosing on the test split would
    show that split's luckiest model).

    Only configurations with confusion rows are candidates; counts are summed over the seeds
    that have them, which is what a single seed gives when only one seed logged them. Results
    without validation accuracies fall back to test accuracy, and the title says so.
    """
    df = data.df
    rows = df[(df["experiment"] == GRID) & df["metric"].str.startswith(CONFUSION)].copy()
    if rows.empty:
        return {}
    parts = rows["metric"].str.extract(_TRUE_AND_PREDICTED)
    rows["true"], rows["pred"] = parts[0], parts[1]
    rows = rows.dropna(subset=["true", "pred"])
    accuracy = data.grid.get(ACCURACY, {})
    valid = data.grid.get(VALID_ACCURACY, {})
    out: dict[str, Confusion] = {}
    for dataset in data.datasets:
        mine = rows[rows["dataset"] == dataset]
        if mine.empty:
            continue
        candidates = {tuple(k) for k in mine[list(GRID_KEYS)].itertuples(index=False)}

        by_valid = any(k in valid for k in candidates)
        chooser = valid if by_valid else accuracy

        def score(key: Key, chooser: dict = chooser) -> float:
            stat = chooser.get(key)
            return stat.mean if stat else -math.inf

        best = max(sorted(candidates, key=str), key=score)
        chosen = mine[
            np.logical_and.reduce([mine[c] == v for c, v in zip(GRID_KEYS, best, strict=True)])
        ]
        known = run_info.get("datasets", {}).get(dataset, {}).get("classes", [])
        seen = set(chosen["true"]) | set(chosen["pred"])
        classes = [c for c in known if c in seen] if seen <= set(known) else sorted(seen)
        index = {c: i for i, c in enumerate(classes)}
        counts = np.zeros((len(classes), len(classes)))
        for true, pred, value in chosen[["true", "pred", "value"]].itertuples(index=False):
            counts[index[true], index[pred]] += value
        seeds = tuple(sorted(int(s) for s in chosen["seed"].dropna().unique()))
        out[dataset] = Confusion(
            dataset,
            best,
            accuracy.get(best),
            seeds,
            tuple(classes),
            counts,
            valid.get(best) if by_valid else None,
        )
    return out


def figure(confusions: dict[str, Confusion]) -> Figure:
    """The row-normalised matrices, one panel per data set."""
    if not confusions:
        return placeholder("No confusion counts in the grid runs of this experiment")
    fig, axes = panels(len(confusions), width=5.8, height=6.2)
    for ax, confusion in zip(axes, confusions.values(), strict=False):
        matrix = confusion.normalised
        image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        k = len(confusion.classes)
        if k <= _ANNOTATED_CLASSES:
            for i in range(k):
                for j in range(k):
                    colour = "white" if matrix[i, j] > 0.5 else "black"
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        color=colour,
                        fontsize="small" if k <= 6 else "x-small",
                    )
        size = "small" if k <= _ANNOTATED_CLASSES else "xx-small"
        ax.set_xticks(range(k), confusion.classes, rotation=90, fontsize=size)
        ax.set_yticks(range(k), confusion.classes, fontsize=size)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(confusion.title(), fontsize="small")
        fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    fig.suptitle(
        "Confusion matrices of the best model per data set, chosen on validation accuracy "
        "(row-normalised, test split)"
    )
    return fig
