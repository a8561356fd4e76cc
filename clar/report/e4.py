"""E4, convergence: held-out accuracy epoch by epoch, and whether an objective converges faster
than those its ``compared_with`` names, where both are ``monitored`` (the paper's: whether CLAR
converges faster than the self-supervised model).

The two methods are compared on a criterion they share, so that ending higher is never
penalised (measuring each against a share of its *own* final accuracy would make the better
method look slower):

- the *area* under the held-out-accuracy curve over the epochs both ran (trapezoids, divided
  by the span of epochs: a mean accuracy over training, in %), per seed; its difference CLAR −
  self-supervised, paired by seed, gets a t interval over seeds and decides the verdict. The
  area is linear in the curve, so a method at least as accurate at every probe can never be
  judged slower;
- descriptively, the first epoch at which each seed-mean curve reaches a *shared threshold*:
  :data:`THRESHOLD_SHARE` of the lower of the two final seed-mean accuracies.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from clar.report.aggregate import (
    Data,
    Key,
    compared_pairs,
    label_free,
    objective_name,
    objective_order,
    objective_short,
)
from clar.report.figures import mean_half_width, objective_colour, panels, placeholder
from clar.report.intervals import Interval, over_seeds
from clar.report.results import CONVERGENCE, HELDOUT_ACCURACY
from clar.report.statistics import Stat
from clar.report.tables import cell, md_table
from clar.report.verdicts import MARKS_LEGEND, Comparison
from clar.vocabulary import FULL_FRACTION

THRESHOLD_SHARE = 0.9
CURVE_KEYS = ("dataset", "input", "objective", "fraction")
AREA_UNIT = "points of mean held-out accuracy"
# Line styles tell a panel's label fractions apart (the colour is the objective's).
FRACTION_STYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Curve:
    """The held-out accuracy of one configuration, epoch by epoch, per seed."""

    key: Key  # (dataset, input, objective, fraction)
    epochs: np.ndarray  # [E], ascending
    seeds: tuple[int, ...]
    values: np.ndarray  # [S, E], NaN where a seed has no probe at that epoch

    @property
    def stats(self) -> tuple[Stat, ...]:
        out = []
        for column in self.values.T:
            v = column[np.isfinite(column)]
            std = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
            out.append(Stat(float(v.mean()), std, len(v)))
        return tuple(out)

    @property
    def mean(self) -> np.ndarray:
        return np.nanmean(self.values, axis=0)

    @property
    def final(self) -> Stat:
        return self.stats[-1]


def convergence_curves(df: pd.DataFrame) -> dict[Key, Curve]:
    """The convergence rows of a prepared table as curves keyed by (dataset, input, objective,
    fraction)."""
    rows = df[(df["experiment"] == CONVERGENCE) & (df["metric"] == HELDOUT_ACCURACY)]
    rows = rows[rows["epoch"].notna()].copy()
    # A training run logged without a label fraction had no label subset: treat it as 100 %
    # so that its key can be matched (NaN never equals NaN in a dict look-up).
    rows["fraction"] = rows["fraction"].fillna(FULL_FRACTION)
    # Rows of one seed and epoch are averaged: a seed counts once.
    per_seed = rows.groupby([*CURVE_KEYS, "epoch", "seed"], dropna=False)["value"].mean()
    curves: dict[Key, Curve] = {}
    for key, group in per_seed.reset_index().groupby(list(CURVE_KEYS), dropna=False):
        table = group.pivot(index="seed", columns="epoch", values="value").sort_index(axis=1)
        curves[tuple(key)] = Curve(
            tuple(key),
            table.columns.to_numpy(dtype=float),
            tuple(int(s) for s in table.index),
            table.to_numpy(dtype=float),
        )
    return curves


def area(epochs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean accuracy over training: the trapezoid area under each row of ``values`` divided by
    the span of ``epochs`` (the single value where there is one epoch)."""
    if len(epochs) == 1:
        return values[..., 0]
    return np.trapezoid(values, epochs, axis=-1) / (epochs[-1] - epochs[0])


def reached(epochs: np.ndarray, curve: np.ndarray, threshold: float) -> int | None:
    """The first epoch whose value reaches ``threshold``."""
    hits = np.flatnonzero(curve >= threshold)
    return int(epochs[hits[0]]) if len(hits) else None


@dataclass(frozen=True)
class Race:
    """An objective's curve against another's (CLAR against the self-supervised model) on
    their shared epochs and seeds."""

    mine: Curve
    other: Curve
    epochs: np.ndarray
    seeds: tuple[int, ...]
    threshold: float  # accuracy (fraction) both curves are timed to
    epoch_mine: int | None
    epoch_other: int | None
    comparison: Comparison  # area difference mine − other (CLAR − self-supervised), in points


def race(mine: Curve, other: Curve, name: str) -> Race | None:
    """The comparison of two curves on the epochs and seeds they share (None: nothing shared)."""
    epochs = np.intersect1d(mine.epochs, other.epochs)
    if len(epochs) == 0:
        return None

    def on(curve: Curve) -> np.ndarray:
        return curve.values[:, np.searchsorted(curve.epochs, epochs)]

    h, o = on(mine), on(other)
    mean_h, mean_o = np.nanmean(h, axis=0), np.nanmean(o, axis=0)
    threshold = THRESHOLD_SHARE * min(mean_h[-1], mean_o[-1])
    complete_h = {s: r for s, r in zip(mine.seeds, h, strict=True) if np.isfinite(r).all()}
    complete_o = {s: r for s, r in zip(other.seeds, o, strict=True) if np.isfinite(r).all()}
    seeds = tuple(sorted(set(complete_h) & set(complete_o)))
    diffs = np.array(
        [100 * (area(epochs, complete_h[s]) - area(epochs, complete_o[s])) for s in seeds]
    )
    interval: Interval | None = over_seeds(diffs)
    why = f"{len(seeds)} seed(s) with both curves: an interval over seeds needs two or more"
    comparison = Comparison(name, interval, why if interval is None else "", AREA_UNIT)
    return Race(
        mine,
        other,
        epochs,
        seeds,
        threshold,
        reached(epochs, mean_h, threshold),
        reached(epochs, mean_o, threshold),
        comparison,
    )


def curve_name(data: Data, key: Key) -> str:
    return f"{key[0]}/{key[1]}/{data.fraction_label(str(key[0]), float(key[3]))}"


def races(data: Data, curves: dict[Key, Curve]) -> dict[Key, Race]:
    """Each curve of a monitored objective against the curve of each monitored objective its
    ``compared_with`` names, of the same data set and input (CLAR against the self-supervised
    model): the other's curve at the same fraction, or, where the other trains on no labels
    and has none there, its 100 % one. Keyed by (dataset, input, objective, fraction, other)."""
    out = {}
    for objective, other in compared_pairs(data.objectives, monitored=True):
        for key, mine in sorted(curves.items(), key=lambda kv: str(kv[0])):
            if key[2] != objective:
                continue
            theirs = curves.get((*key[:2], other, key[3]))
            if theirs is None and label_free(other):
                theirs = curves.get((*key[:2], other, FULL_FRACTION))
            if theirs is not None and (found := race(mine, theirs, curve_name(data, key))):
                out[(*key, other)] = found
    return out


def panel_keys(data: Data, curves: dict[Key, Curve]) -> list[tuple[str, str]]:
    """The (data set, input) pairs with curves, in the report's data set order."""
    order = {d: i for i, d in enumerate(data.datasets)}
    keys = {(str(k[0]), str(k[1])) for k in curves}
    return sorted(keys, key=lambda k: (order.get(k[0], len(order)), k))


def panel_curves(data: Data, curves: dict[Key, Curve], dataset: str, input_: str) -> list[Curve]:
    order = objective_order(data.objectives)

    def position(c: Curve) -> tuple:
        objective = str(c.key[2])
        rank = order.index(objective) if objective in order else len(order)
        return (rank, objective, -float(c.key[3]))

    return sorted((c for k, c in curves.items() if k[:2] == (dataset, input_)), key=position)


def _epoch(value: int | None) -> str:
    return "not reached" if value is None else str(value)


def _intro(objectives: Collection[str], share: str) -> str:
    """What the race tables compare, for the pairs the registry defines for ``objectives``."""
    pairs = compared_pairs(objectives, monitored=True)
    if not pairs:
        return (
            "No monitored objective is compared with another monitored one (compared_with): "
            f"no race is run. {MARKS_LEGEND}.\n"
        )
    names = " and ".join(f"*{objective_short(a)} − {objective_short(b)}*" for a, b in pairs)
    one = len(pairs) == 1
    ahead = objective_short(pairs[0][0]) if one else "the first named"
    return (
        f"{names} {'compares the two' if one else 'compare each two'} on a criterion they "
        "share: the difference of the area under their held-out-accuracy curves (mean accuracy "
        "over the epochs both ran, per seed, paired by seed), with a 95 % t interval over "
        f"seeds; positive means {ahead} is ahead over training. *Epoch at threshold* is the "
        f"first epoch at which each seed-mean curve reaches {share} of the lower of the two "
        f"final seed-mean accuracies. {MARKS_LEGEND}.\n"
    )


def _race_tables(data: Data, found: dict[Key, Race], dataset: str, input_: str, share: str) -> str:
    """One table per compared pair with races on (dataset, input_)."""
    text = ""
    for objective, other in compared_pairs(data.objectives, monitored=True):
        mine = [
            r for k, r in found.items() if (*k[:3], k[4]) == (dataset, input_, objective, other)
        ]
        if not mine:
            continue
        a, b = objective_short(objective), objective_short(other)
        rows = [
            [
                data.fraction_label(dataset, float(r.mine.key[3])),
                f"{100 * r.threshold:.1f}",
                f"{_epoch(r.epoch_mine)} / {_epoch(r.epoch_other)}",
                r.comparison.cell(),
                f"{len(r.seeds)}",
            ]
            for r in mine
        ]
        header = [
            f"{a} labels",
            f"threshold ({share} of lower final, %)",
            f"epoch at threshold: {a} / {b}",
            f"{a} − {b}, area (points) [95 % CI]",
            "seeds",
        ]
        text += "\n" + md_table(header, rows)
    return text


def table(data: Data, curves: dict[Key, Curve], found: dict[Key, Race]) -> str:
    text = "# E4: convergence\n\n"
    if not curves:
        return text + (
            "No convergence runs in this experiment (no rows with experiment = `convergence`): "
            "the profile may skip E4, or its runs have not finished.\n"
        )
    share = f"{100 * THRESHOLD_SHARE:g} %"
    text += (
        "Held-out (validation split) accuracy of the probe during training, in % (mean ± sample "
        "std over seeds, n seeds).\n\n" + _intro(data.objectives, share)
    )
    for dataset, input_ in panel_keys(data, curves):
        rows = []
        for c in panel_curves(data, curves, dataset, input_):
            rows.append(
                [
                    objective_name(str(c.key[2])),
                    "none (trains without labels)"
                    if label_free(str(c.key[2]))
                    else data.fraction_label(dataset, float(c.key[3])),
                    f"{int(c.epochs[-1])}",
                    cell(c.final),
                    f"{100 * float(area(c.epochs, c.mean)):.1f}",
                ]
            )
        header = ["model", "labels", "epochs", "final accuracy", "mean over epochs"]
        text += f"\n## {dataset}, {input_} input\n\n" + md_table(header, rows)
        text += _race_tables(data, found, dataset, input_, share)
    return text


def figure(data: Data, curves: dict[Key, Curve]) -> Figure:
    """One panel per (data set, input): seed-mean lines, a band over the seeds' range."""
    keys = panel_keys(data, curves)
    if not keys:
        return placeholder("E4: no convergence runs in this experiment")
    fig, axes = panels(len(keys), width=5.2, height=3.8)
    handles: dict[str, object] = {}
    for ax, (dataset, input_) in zip(axes, keys, strict=False):
        mine = panel_curves(data, curves, dataset, input_)
        fractions = sorted({float(c.key[3]) for c in mine}, reverse=True)
        for c in mine:
            colour = objective_colour(str(c.key[2]))
            style = FRACTION_STYLES[fractions.index(float(c.key[3])) % len(FRACTION_STYLES)]
            # The self-supervised model trains on no labels: a fraction would mislead.
            used = "no labels" if label_free(str(c.key[2])) else f"{float(c.key[3]):g} % labels"
            label = f"{objective_name(str(c.key[2]))}, {used}"
            (line,) = ax.plot(c.epochs, 100 * c.mean, style, color=colour, marker=".", label=label)
            handles.setdefault(label, line)
            if len(c.seeds) > 1:
                found = c.stats
                half = mean_half_width(
                    np.array([100 * s.std for s in found]), np.array([s.n for s in found])
                )
                mean = 100 * c.mean
                # Three seeds give wide t intervals: kept inside the possible accuracies.
                low, high = np.clip(mean - half, 0, 100), np.clip(mean + half, 0, 100)
                ax.fill_between(c.epochs, low, high, color=colour, alpha=0.12, lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(f"{dataset}, {input_} input")
        ax.grid(alpha=0.3)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=3)
    fig.suptitle(
        "E4: held-out accuracy during training (line: seed mean; band: its 95 % t interval); "
        "the verdict compares areas (forest plot)"
    )
    return fig
