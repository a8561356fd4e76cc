"""E4, convergence: held-out accuracy epoch by epoch, and when each model has converged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clar.report.aggregate import OBJECTIVES, Data, Key, objective_name, summarise
from clar.report.figures import mean_with_band, panels, placeholder
from clar.report.results import CONVERGENCE, HELDOUT_ACCURACY
from clar.report.statistics import Stat
from clar.report.tables import cell, md_table, pct
from clar.vocabulary import FULL_FRACTION

# A model has converged at the first epoch whose seed-mean held-out accuracy reaches this share
# of its own final (last-epoch) seed-mean held-out accuracy (claim 3 needs a number for it).
CONVERGENCE_SHARE = 0.9
CURVE_KEYS = ("dataset", "input", "objective", "fraction")


@dataclass(frozen=True)
class Curve:
    """The seed-mean held-out accuracy of one configuration, epoch by epoch."""

    key: Key  # (dataset, input, objective, fraction)
    epochs: np.ndarray  # [epochs], ascending
    stats: tuple[Stat, ...]  # one per epoch

    @property
    def mean(self) -> np.ndarray:
        return np.array([s.mean for s in self.stats])

    @property
    def final(self) -> Stat:
        return self.stats[-1]

    def converged_epoch(self) -> int:
        """First epoch whose mean reaches :data:`CONVERGENCE_SHARE` of the final mean."""
        reached = np.flatnonzero(self.mean >= CONVERGENCE_SHARE * self.final.mean)
        return int(self.epochs[reached[0]])


def convergence_curves(df: pd.DataFrame) -> dict[Key, Curve]:
    """The convergence rows of a prepared table as curves keyed by (dataset, input, objective,
    fraction)."""
    rows = df[(df["experiment"] == CONVERGENCE) & (df["metric"] == HELDOUT_ACCURACY)]
    rows = rows[rows["epoch"].notna()].copy()
    # A training run logged without a label fraction had no label subset: treat it as 100 %
    # so that its key can be matched (NaN never equals NaN in a dict look-up).
    rows["fraction"] = rows["fraction"].fillna(FULL_FRACTION)
    by = (*CURVE_KEYS, "epoch")
    summary = summarise(rows, experiment=CONVERGENCE, metric=HELDOUT_ACCURACY, by=by)
    curves: dict[Key, Curve] = {}
    for key, group in summary.groupby(list(CURVE_KEYS), dropna=False):
        group = group.sort_values("epoch")
        stats = tuple(Stat.from_row(r) for _, r in group.iterrows())
        curves[tuple(key)] = Curve(tuple(key), group["epoch"].to_numpy(), stats)
    return curves


def curve_label(curve: Curve, siblings: Sequence[Curve]) -> str:
    """The objective, plus input and fraction only where they tell the panel's lines apart."""
    label = objective_name(str(curve.key[2]))
    if len({c.key[1] for c in siblings}) > 1:
        label += f", {curve.key[1]}"
    if len({c.key[3] for c in siblings}) > 1:
        label += f", {pct(float(curve.key[3]))} labels"
    return label


def curves_by_dataset(data: Data, curves: dict[Key, Curve]) -> dict[str, list[Curve]]:
    """Per data set with curves, its curves by input, fraction and objective."""

    def order(c: Curve) -> tuple:
        objective = str(c.key[2])
        rank = OBJECTIVES.index(objective) if objective in OBJECTIVES else len(OBJECTIVES)
        return (str(c.key[1]), float(c.key[3]), rank, objective)

    grouped = {
        d: sorted((c for c in curves.values() if c.key[0] == d), key=order) for d in data.datasets
    }
    return {d: cs for d, cs in grouped.items() if cs}


def table(data: Data, curves: dict[Key, Curve]) -> str:
    text = "# E4: convergence\n\n"
    grouped = curves_by_dataset(data, curves)
    if not grouped:
        return text + (
            "No convergence runs in this experiment (no rows with experiment = `convergence`): "
            "the profile may skip E4, or its runs have not finished.\n"
        )
    share = f"{100 * CONVERGENCE_SHARE:g} %"
    text += (
        "Held-out accuracy of training runs, epoch by epoch, in % (mean ± sample std over seeds, "
        f"n seeds). *Converged at* is the first epoch whose seed-mean accuracy reaches {share} "
        "of the same model's final (last-epoch) seed-mean accuracy; *mean over epochs* averages "
        "the seed-mean curve over all epochs run.\n"
    )
    for dataset, dataset_curves in grouped.items():
        rows = [
            [
                curve_label(c, dataset_curves),
                f"{int(c.epochs[-1])}",
                cell(c.final),
                f"{c.converged_epoch()}",
                f"{100 * c.mean.mean():.1f}",
            ]
            for c in dataset_curves
        ]
        header = [
            "model",
            "epochs",
            "final accuracy",
            f"converged at ({share})",
            "mean over epochs",
        ]
        text += f"\n## {dataset}\n\n" + md_table(header, rows)
    return text


def figure(data: Data, curves: dict[Key, Curve]) -> Figure:
    """The curves, one panel per data set."""
    grouped = curves_by_dataset(data, curves)
    if not grouped:
        return placeholder("E4: no convergence runs in this experiment")
    fig, axes = panels(len(grouped))
    for ax, (dataset, dataset_curves) in zip(axes, grouped.items(), strict=False):
        for curve in dataset_curves:
            label = curve_label(curve, dataset_curves)
            objective, input_ = str(curve.key[2]), str(curve.key[1])
            mean_with_band(ax, curve.epochs, curve.stats, objective, input_, label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("E4: held-out accuracy during training (mean over seeds, band: ± one std)")
    return fig
