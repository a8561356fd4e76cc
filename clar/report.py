"""Render the paper's tables, figures and a front page from one long results table.

The pipeline's ``report`` stage collects every run's metrics into ``reports/results.csv`` (one
row per run, metric and, for convergence runs, epoch) and calls :func:`render`. Everything written
here is derived from that table alone, so any number in the reports can be re-checked, or
re-plotted, from the CSV.

Conventions used throughout (they are stated again in the reports themselves):

* a cell is the mean over seeds of the per-seed value, with the sample standard deviation
  (``ddof=1``) and the number of seeds; a single seed shows no spread;
* the headline metric for every objective is the evaluation head on the frozen encoder
  (``accuracy``); the run's own classifier (``classifier_accuracy``) is reported separately;
* percentages have one decimal, differences are in percentage points.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from clar.augment import AUGMENTATIONS
from clar.data.registry import DATASETS

COLUMNS = (
    "experiment",
    "dataset",
    "input",
    "objective",
    "fraction",
    "augmentations",
    "seed",
    "epoch",
    "metric",
    "value",
    "profile",
    "git_rev",
)
# Display order: the paper's baseline, its self-supervised model, then CLAR.
OBJECTIVES = ("supervised", "contrastive", "hybrid")
OBJECTIVE_NAMES = {
    "supervised": "supervised",
    "contrastive": "self-supervised + head",
    "hybrid": "CLAR (hybrid)",
}
OBJECTIVE_COLOURS = {"supervised": "tab:blue", "contrastive": "tab:orange", "hybrid": "tab:green"}
# Spectrogram first: it is the paper's main input, so its table comes first.
INPUTS = ("spectrogram", "raw")
INPUT_STYLES = {"spectrogram": "-", "raw": "--"}
# The embedded data sets are generated stand-ins; the front page must never let them pass for
# the real corpora.
STAND_INS = {name: spec.stands_in_for for name, spec in DATASETS.items() if spec.stands_in_for}

GRID_KEYS = ("dataset", "input", "objective", "fraction")
FULL_FRACTION = 100.0
# Claim 1 needs a number for "much better": the spread between the best and the worst
# augmentation cell of a data set must reach this many percentage points.
MUCH_BETTER_POINTS = 5.0
# Claim 3 (convergence): a model has converged at the first epoch whose seed-mean held-out
# accuracy reaches this share of its own final (last-epoch) seed-mean held-out accuracy.
CONVERGENCE_SHARE = 0.9

TABLE_FILES = (
    "e1_augmentations.md",
    "e2_raw_vs_spectrogram.md",
    "e3_label_fractions.md",
    "e4_convergence.md",
)
FIGURE_STEMS = ("e1_heatmaps", "e3_label_fractions", "e4_convergence", "confusions")
FIGURE_FORMATS = ("png", "svg")
FIGURE_FILES = tuple(f"{stem}.{ext}" for stem in FIGURE_STEMS for ext in FIGURE_FORMATS)
# The PNGs are the ones worth declaring as ``plots`` in dvc.yaml.
PLOT_FILES = tuple(f"{stem}.png" for stem in FIGURE_STEMS)
INDEX_FILE = "index.md"
OUTPUT_FILES = (*TABLE_FILES, *FIGURE_FILES, INDEX_FILE)

SUPPORTED = "supported"
PARTLY = "partly supported"
NOT_SUPPORTED = "not supported"
UNJUDGED = "cannot be judged"

MISSING = "–"


# --------------------------------------------------------------------------------------------
# Aggregation shared by tables, figures and claims
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """One aggregated cell: mean, sample std (NaN for a single seed) and number of seeds."""

    mean: float
    std: float
    n: int

    def format(self) -> str:
        """``83.4 ± 1.2 (n=3)`` in percent; a single seed gets no spread rather than a fake 0."""
        if self.n > 1 and not math.isnan(self.std):
            return f"{100 * self.mean:.1f} ± {100 * self.std:.1f} (n={self.n})"
        return f"{100 * self.mean:.1f} (n={self.n})"


Key = tuple[Hashable, ...]
Cells = dict[Key, Stat]


def _canonical_augmentations(value: object) -> str:
    """Join the names in the paper's order so that ``a+b`` and ``b+a`` are one configuration."""
    if not isinstance(value, str) or not value:
        return ""
    names = [name.strip() for name in value.split("+") if name.strip()]
    order = {name: i for i, name in enumerate(AUGMENTATIONS)}
    return "+".join(sorted(names, key=lambda name: (order.get(name, len(order)), name)))


def prepare(results: pd.DataFrame) -> pd.DataFrame:
    """Normalise types of a results table (idempotent), tolerating absent optional columns.

    The CSV round trip turns ints into floats and empty strings into NaN; every consumer here
    wants the same cleaned view, so it is done once.
    """
    df = results.copy()
    for column in COLUMNS:
        if column not in df.columns:
            df[column] = np.nan
    for column in ("value", "fraction", "epoch", "seed"):
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    for column in ("experiment", "dataset", "input", "objective", "metric", "profile", "git_rev"):
        df[column] = df[column].fillna("").astype(str)
    df["augmentations"] = df["augmentations"].map(_canonical_augmentations)
    return df.dropna(subset=["value"]).reset_index(drop=True)


def summarise(
    results: pd.DataFrame,
    *,
    experiment: str,
    metric: str,
    by: Sequence[str] = GRID_KEYS,
) -> pd.DataFrame:
    """Mean, sample std and n over seeds for each ``by`` group of one experiment and metric.

    Rows of the same seed are averaged first, so n counts seeds, not rows.
    Returns the ``by`` columns plus ``mean``, ``std`` and ``n`` (values as fractions, not %).
    """
    df = prepare(results)
    rows = df[(df["experiment"] == experiment) & (df["metric"] == metric)]
    columns = [*by, "mean", "std", "n"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    per_seed = rows.groupby([*by, "seed"], dropna=False)["value"].mean().reset_index()
    grouped = per_seed.groupby(list(by), dropna=False)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    return out[columns]


def _cells(summary: pd.DataFrame, by: Sequence[str]) -> Cells:
    """Index a :func:`summarise` frame by its key tuple for cheap look-ups."""
    return {
        tuple(row[k] for k in by): Stat(float(row["mean"]), float(row["std"]), int(row["n"]))
        for _, row in summary.iterrows()
    }


def _best(stats: dict[Hashable, Stat | None]) -> set[Hashable]:
    """Keys whose mean is the highest (ties all win)."""
    present = {k: s.mean for k, s in stats.items() if s is not None}
    if not present:
        return set()
    top = max(present.values())
    return {k for k, m in present.items() if math.isclose(m, top, rel_tol=0, abs_tol=1e-12)}


def _ordered(values: Iterable[str], preferred: Sequence[str] = ()) -> list[str]:
    """Known names in their canonical order first, then any others alphabetically."""
    present = {v for v in values if v}
    return [v for v in preferred if v in present] + sorted(present - set(preferred))


def _pct(fraction: float) -> str:
    return f"{fraction:g} %"


def _objective_name(objective: str) -> str:
    return OBJECTIVE_NAMES.get(objective, objective)


def _points(value: float) -> str:
    """A signed difference in percentage points, with a real minus sign."""
    return f"{value:+.1f}".replace("-", "−")


def _cell(stat: Stat | None, bold: bool = False) -> str:
    if stat is None:
        return MISSING
    return f"**{stat.format()}**" if bold else stat.format()


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@dataclass
class Data:
    """The aggregates every table, figure and claim draws on, computed once per render."""

    df: pd.DataFrame
    datasets: list[str]
    grid: dict[str, Cells] = field(default_factory=dict)  # metric -> (dataset, input, obj, frac)


def _collect(results: pd.DataFrame, run_info: dict) -> Data:
    df = prepare(results)
    datasets = _ordered(df["dataset"], list(run_info.get("datasets", {})))
    data = Data(df=df, datasets=datasets)
    grid_metrics = df.loc[df["experiment"] == "grid", "metric"].unique()
    for metric in grid_metrics:
        if metric.startswith("confusion/"):
            continue
        data.grid[metric] = _cells(
            summarise(df, experiment="grid", metric=metric, by=GRID_KEYS), GRID_KEYS
        )
    return data


def _inputs_of(cells: Cells, dataset: str) -> list[str]:
    return _ordered((k[1] for k in cells if k[0] == dataset), INPUTS)


def _objectives_of(cells: Cells, dataset: str, input_: str | None = None) -> list[str]:
    keys = (k for k in cells if k[0] == dataset and (input_ is None or k[1] == input_))
    return _ordered((k[2] for k in keys), OBJECTIVES)


def _fractions_of(cells: Cells, dataset: str, input_: str) -> list[float]:
    return sorted({k[3] for k in cells if k[0] == dataset and k[1] == input_})


# --------------------------------------------------------------------------------------------
# E1: augmentation study
# --------------------------------------------------------------------------------------------


@dataclass
class AugmentationStudy:
    """Per (data set, input) the symmetric matrix of evaluation-head accuracy."""

    fraction: float | None
    matrices: dict[tuple[str, str], dict[tuple[str, str], Stat]]
    axis: list[str]
    skipped: int  # configurations with three or more augmentations: they fit no 6 x 6 cell


def augmentation_study(df: pd.DataFrame) -> AugmentationStudy:
    """Gather the E1 rows into 6 x 6 matrices (diagonal = single augmentation)."""
    rows = df[(df["experiment"] == "augmentation") & (df["metric"] == "accuracy")]
    if rows.empty:
        return AugmentationStudy(None, {}, list(AUGMENTATIONS), 0)
    # The study is scored at 100 % labels; if a profile ran it at another fraction, use the
    # largest present rather than mixing fractions in one matrix.
    fraction = float(rows["fraction"].max()) if rows["fraction"].notna().any() else None
    if fraction is not None:
        rows = rows[rows["fraction"] == fraction]
    by = ("dataset", "input", "augmentations")
    cells = _cells(summarise(rows, experiment="augmentation", metric="accuracy", by=by), by)
    names = {n for k in cells for n in k[2].split("+") if n}
    axis = [*AUGMENTATIONS, *sorted(names - set(AUGMENTATIONS))]
    matrices: dict[tuple[str, str], dict[tuple[str, str], Stat]] = {}
    skipped = 0
    for (dataset, input_, augs), stat in cells.items():
        parts = augs.split("+") if augs else []
        if len(parts) not in (1, 2):
            skipped += 1
            continue
        a, b = parts[0], parts[-1]
        matrix = matrices.setdefault((dataset, input_), {})
        matrix[(a, b)] = matrix[(b, a)] = stat
    return AugmentationStudy(fraction, matrices, axis, skipped)


def _study_label(study: AugmentationStudy, key: tuple[str, str]) -> str:
    """The data set's name, plus the input when the study was run on several inputs."""
    several_inputs = len({k[1] for k in study.matrices}) > 1
    return f"{key[0]}, {key[1]} input" if several_inputs else key[0]


def _study_keys(study: AugmentationStudy, datasets: Sequence[str]) -> list[tuple[str, str]]:
    order = {d: i for i, d in enumerate(datasets)}
    return sorted(study.matrices, key=lambda k: (order.get(k[0], len(order)), k[0], k[1]))


def _unique_cells(
    matrix: dict[tuple[str, str], Stat], axis: Sequence[str]
) -> dict[tuple[str, str], Stat]:
    """Each single and each unordered pair once, named in the paper's order."""
    return {(a, b): s for (a, b), s in matrix.items() if axis.index(a) <= axis.index(b)}


def _at_labels(fraction: float | None) -> str:
    return "" if fraction is None or math.isnan(fraction) else f" at {_pct(fraction)} labels"


def _aug_name(cell: tuple[str, str]) -> str:
    a, b = cell
    return a if a == b else f"{a} + {b}"


def _e1_table(data: Data, study: AugmentationStudy) -> str:
    text = "# E1: augmentation study\n\n"
    if not study.matrices:
        return text + (
            "No augmentation-study runs in this experiment (no rows with experiment = "
            "`augmentation`): the profile may skip E1, or its runs have not finished.\n"
        )
    text += (
        "Contrastive training with each single augmentation (diagonal) and each pair "
        f"(off-diagonal, symmetric), scored by the evaluation head{_at_labels(study.fraction)}"
        " on the test split: accuracy in %, mean ± sample std over seeds (n seeds). "
        "The best cell is in bold.\n"
    )
    if study.skipped:
        text += (
            f"\n{study.skipped} configuration(s) with three or more augmentations are not shown "
            "(they have no cell in a pairwise matrix).\n"
        )
    for key in _study_keys(study, data.datasets):
        matrix = study.matrices[key]
        best = _best(dict(matrix))
        rows = [
            [f"**{a}**", *(_cell(matrix.get((a, b)), (a, b) in best) for b in study.axis)]
            for a in study.axis
        ]
        text += f"\n## {_study_label(study, key)}\n\n" + _md_table(["", *study.axis], rows)
    return text


def _e1_figure(data: Data, study: AugmentationStudy) -> Figure:
    keys = _study_keys(study, data.datasets)
    if not keys:
        return _placeholder("E1: no augmentation-study runs in this experiment")
    fig, axes = _panels(len(keys), width=5.6, height=5.0)
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
        for a, b in sorted(_best(dict(matrix))):
            i, j = study.axis.index(a), study.axis.index(b)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
        ax.set_xticks(range(len(short)), short, rotation=45, ha="right")
        ax.set_yticks(range(len(short)), short)
        ax.set_title(_study_label(study, key))
        fig.colorbar(image, ax=ax, label="evaluation-head accuracy (%)", shrink=0.8)
    fig.suptitle(f"E1: augmentation study{_at_labels(study.fraction)} (red: best cell)")
    return fig


# --------------------------------------------------------------------------------------------
# E2: raw waveform vs spectrogram
# --------------------------------------------------------------------------------------------


def _grid_augmentations(data: Data) -> str:
    """Say which augmentations the grid runs used: a mix would confound the comparison."""
    grid = data.df[data.df["experiment"] == "grid"]
    used = _ordered(grid["augmentations"])
    if not used:
        return ""
    return "\nAugmentations of these runs: " + ", ".join(f"`{a}`" for a in used) + ".\n"


def _e2_table(data: Data) -> str:
    cells = data.grid.get("accuracy", {})
    text = "# E2: raw waveform vs spectrogram\n\n"
    datasets = [d for d in data.datasets if any(k[0] == d and k[3] == FULL_FRACTION for k in cells)]
    if not datasets:
        return text + (
            f"No grid runs at {_pct(FULL_FRACTION)} labels in this experiment (no rows with "
            "experiment = `grid` and metric = `accuracy`): the profile may skip E2/E3, or its "
            "runs have not finished.\n"
        )
    text += (
        f"Evaluation-head accuracy on the test split at {_pct(FULL_FRACTION)} labels, in %, "
        "mean ± sample std over seeds (n seeds); the last column is the difference of the means "
        "in percentage points (positive: spectrogram better). The best objective per input "
        "column is in bold.\n" + _grid_augmentations(data)
    )
    for dataset in datasets:
        objectives = _ordered(
            (k[2] for k in cells if k[0] == dataset and k[3] == FULL_FRACTION), OBJECTIVES
        )
        column = {
            i: {o: cells.get((dataset, i, o, FULL_FRACTION)) for o in objectives}
            for i in ("raw", "spectrogram")
        }
        best = {i: _best(column[i]) for i in column}
        rows = []
        for o in objectives:
            raw, spec = column["raw"][o], column["spectrogram"][o]
            diff = _points(100 * (spec.mean - raw.mean)) if raw and spec else MISSING
            rows.append(
                [
                    _objective_name(o),
                    _cell(raw, o in best["raw"]),
                    _cell(spec, o in best["spectrogram"]),
                    diff,
                ]
            )
        header = ["objective", "raw", "spectrogram", "spectrogram − raw (points)"]
        text += f"\n## {dataset}\n\n" + _md_table(header, rows)
    return text


# --------------------------------------------------------------------------------------------
# E3: label fractions
# --------------------------------------------------------------------------------------------

E3_METRICS = (
    (
        "accuracy",
        "Evaluation-head accuracy (headline metric)",
        "Accuracy of the evaluation head trained on the frozen encoder with the run's label "
        "fraction, on the test split, for every objective.",
    ),
    (
        "macro_f1",
        "Evaluation-head macro F1",
        "Macro-averaged F1 of the same evaluation head, on the test split.",
    ),
    (
        "classifier_accuracy",
        "Own classifier accuracy (supervised and CLAR only)",
        "Accuracy of the run's own classification layer (trained with the encoder), on the test "
        "split; the self-supervised model has none.",
    ),
)


def _fraction_table(cells: Cells, dataset: str, input_: str) -> str:
    """Objectives as rows, label fractions as columns, best objective per column in bold."""
    fractions = _fractions_of(cells, dataset, input_)
    objectives = _objectives_of(cells, dataset, input_)
    best = {
        f: _best({o: cells.get((dataset, input_, o, f)) for o in objectives}) for f in fractions
    }
    rows = [
        [
            _objective_name(o),
            *(_cell(cells.get((dataset, input_, o, f)), o in best[f]) for f in fractions),
        ]
        for o in objectives
    ]
    header = ["objective", *(f"{_pct(f)} labels" for f in fractions)]
    return _md_table(header, rows)


def _e3_table(data: Data) -> str:
    text = "# E3: supervised vs self-supervised vs CLAR at each label fraction\n\n"
    if not data.grid.get("accuracy"):
        return text + (
            "No grid runs in this experiment (no rows with experiment = `grid` and metric = "
            "`accuracy`): the profile may skip E2/E3, or its runs have not finished.\n"
        )
    text += (
        "Cells are in %, mean ± sample std over seeds (n seeds); the best objective per label "
        "fraction is in bold. Each section says which metric it shows.\n"
        + _grid_augmentations(data)
    )
    for metric, title, explanation in E3_METRICS:
        cells = data.grid.get(metric, {})
        if not cells:
            continue
        text += f"\n## {title}\n\n{explanation}\n"
        for dataset in data.datasets:
            for input_ in _inputs_of(cells, dataset):
                text += f"\n### {dataset}, {input_} input\n\n" + _fraction_table(
                    cells, dataset, input_
                )
    return text


def _e3_figure(data: Data) -> Figure:
    cells = data.grid.get("accuracy", {})
    datasets = [d for d in data.datasets if any(k[0] == d for k in cells)]
    if not datasets:
        return _placeholder("E3: no grid runs in this experiment")
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=False):
        fractions_seen: set[float] = set()
        for input_ in _inputs_of(cells, dataset):
            for objective in _objectives_of(cells, dataset, input_):
                points = sorted(
                    (k[3], s)
                    for k, s in cells.items()
                    if k[:3] == (dataset, input_, objective) and np.isfinite(k[3])
                )
                if not points:
                    continue
                x = np.array([f for f, _ in points])
                mean = np.array([100 * s.mean for _, s in points])
                std = np.array([100 * s.std if s.n > 1 else 0.0 for _, s in points])
                std = np.nan_to_num(std)
                colour = OBJECTIVE_COLOURS.get(objective)
                label = f"{_objective_name(objective)}, {input_}"
                ax.plot(
                    x, mean, INPUT_STYLES.get(input_, ":"), marker="o", color=colour, label=label
                )
                if any(s.n > 1 for _, s in points):
                    ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15, lw=0)
                fractions_seen.update(x)
        ax.set_xscale("log")
        ticks = sorted(fractions_seen)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("labelled training clips (%)")
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


# --------------------------------------------------------------------------------------------
# E4: convergence
# --------------------------------------------------------------------------------------------

CURVE_KEYS = ("dataset", "input", "objective", "fraction")


@dataclass(frozen=True)
class Curve:
    """The seed-mean held-out accuracy of one configuration, epoch by epoch."""

    key: Key  # (dataset, input, objective, fraction)
    epochs: np.ndarray
    stats: tuple[Stat, ...]

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
    """E4 rows as curves keyed by (dataset, input, objective, fraction)."""
    rows = df[(df["experiment"] == "convergence") & (df["metric"] == "heldout_accuracy")]
    rows = rows[rows["epoch"].notna()].copy()
    # A training run logged without a label fraction had no label subset: treat it as 100 %
    # so that its key can be matched (NaN never equals NaN in a dict look-up).
    rows["fraction"] = rows["fraction"].fillna(FULL_FRACTION)
    by = (*CURVE_KEYS, "epoch")
    summary = summarise(rows, experiment="convergence", metric="heldout_accuracy", by=by)
    curves: dict[Key, Curve] = {}
    for key, group in summary.groupby(list(CURVE_KEYS), dropna=False):
        group = group.sort_values("epoch")
        stats = tuple(
            Stat(float(r["mean"]), float(r["std"]), int(r["n"])) for _, r in group.iterrows()
        )
        curves[tuple(key)] = Curve(tuple(key), group["epoch"].to_numpy(), stats)
    return curves


def _curve_label(curve: Curve, siblings: Sequence[Curve]) -> str:
    """The objective, plus input and fraction only where they tell the panel's lines apart."""
    label = _objective_name(str(curve.key[2]))
    if len({c.key[1] for c in siblings}) > 1:
        label += f", {curve.key[1]}"
    if len({c.key[3] for c in siblings}) > 1:
        label += f", {_pct(float(curve.key[3]))} labels"
    return label


def _curves_by_dataset(data: Data, curves: dict[Key, Curve]) -> dict[str, list[Curve]]:
    def order(c: Curve) -> tuple:
        objective = str(c.key[2])
        rank = OBJECTIVES.index(objective) if objective in OBJECTIVES else len(OBJECTIVES)
        return (str(c.key[1]), float(c.key[3]), rank, objective)

    grouped = {
        d: sorted((c for c in curves.values() if c.key[0] == d), key=order) for d in data.datasets
    }
    return {d: cs for d, cs in grouped.items() if cs}


def _e4_table(data: Data, curves: dict[Key, Curve]) -> str:
    text = "# E4: convergence\n\n"
    grouped = _curves_by_dataset(data, curves)
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
                _curve_label(c, dataset_curves),
                f"{int(c.epochs[-1])}",
                _cell(c.final),
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
        text += f"\n## {dataset}\n\n" + _md_table(header, rows)
    return text


def _e4_figure(data: Data, curves: dict[Key, Curve]) -> Figure:
    grouped = _curves_by_dataset(data, curves)
    if not grouped:
        return _placeholder("E4: no convergence runs in this experiment")
    fig, axes = _panels(len(grouped))
    for ax, (dataset, dataset_curves) in zip(axes, grouped.items(), strict=False):
        for curve in dataset_curves:
            objective = str(curve.key[2])
            colour = OBJECTIVE_COLOURS.get(objective)
            mean = 100 * curve.mean
            ax.plot(
                curve.epochs,
                mean,
                INPUT_STYLES.get(str(curve.key[1]), ":"),
                color=colour,
                label=_curve_label(curve, dataset_curves),
            )
            std = np.nan_to_num(np.array([100 * s.std for s in curve.stats]))
            if any(s.n > 1 for s in curve.stats):
                ax.fill_between(
                    curve.epochs, mean - std, mean + std, color=colour, alpha=0.15, lw=0
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("E4: held-out accuracy during training (mean over seeds, band: ± one std)")
    return fig


# --------------------------------------------------------------------------------------------
# Confusion matrices of the best model per data set
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    """Pooled test-split counts of the best grid configuration of one data set."""

    dataset: str
    key: Key  # (dataset, input, objective, fraction)
    accuracy: Stat | None
    seeds: tuple[int, ...]
    classes: tuple[str, ...]
    counts: np.ndarray  # rows: true class, columns: predicted class

    @property
    def normalised(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros_like(self.counts), where=totals > 0)

    def title(self) -> str:
        _, input_, objective, fraction = self.key
        seeds = ", ".join(str(s) for s in self.seeds)
        acc = f"accuracy (%) {self.accuracy.format()}, " if self.accuracy else ""
        return (
            f"{self.dataset}\n{_objective_name(str(objective))}, {input_} input, "
            f"{_pct(float(fraction))} labels\n{acc}counts of seed(s) {seeds}"
        )


def best_confusions(data: Data, run_info: dict) -> dict[str, Confusion]:
    """Per data set, the confusion counts of its highest-mean-accuracy grid configuration.

    Only configurations with confusion rows are candidates; counts are summed over the seeds
    that have them, which is what a single seed gives when only one seed logged them.
    """
    df = data.df
    rows = df[(df["experiment"] == "grid") & df["metric"].str.startswith("confusion/")].copy()
    if rows.empty:
        return {}
    # A class name may not contain "/": the first one after the prefix ends the true class.
    parts = rows["metric"].str.extract(r"^confusion/([^/]+)/(.+)$")
    rows["true"], rows["pred"] = parts[0], parts[1]
    rows = rows.dropna(subset=["true", "pred"])
    accuracy = data.grid.get("accuracy", {})
    out: dict[str, Confusion] = {}
    for dataset in data.datasets:
        mine = rows[rows["dataset"] == dataset]
        if mine.empty:
            continue
        candidates = {tuple(k) for k in mine[list(GRID_KEYS)].itertuples(index=False)}

        def score(key: Key) -> float:
            stat = accuracy.get(key)
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
        out[dataset] = Confusion(dataset, best, accuracy.get(best), seeds, tuple(classes), counts)
    return out


def _confusion_figure(confusions: dict[str, Confusion]) -> Figure:
    if not confusions:
        return _placeholder("No confusion counts in the grid runs of this experiment")
    fig, axes = _panels(len(confusions), width=5.8, height=5.4)
    for ax, confusion in zip(axes, confusions.values(), strict=False):
        matrix = confusion.normalised
        image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        k = len(confusion.classes)
        if k <= 12:  # annotations become unreadable beyond about a dozen classes
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
                        fontsize="x-small",
                    )
        size = "small" if k <= 12 else "xx-small"
        ax.set_xticks(range(k), confusion.classes, rotation=90, fontsize=size)
        ax.set_yticks(range(k), confusion.classes, fontsize=size)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(confusion.title(), fontsize="small")
        fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    fig.suptitle("Confusion matrices of the best model per data set (row-normalised, test split)")
    return fig


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One checkable part of a PAPER.md claim, with the measured verdict and its margins."""

    number: int  # the claim's number in PAPER.md
    statement: str
    verdict: str  # SUPPORTED, PARTLY, NOT_SUPPORTED or UNJUDGED
    detail: str
    holds: int = 0  # comparisons where the claim holds ...
    total: int = 0  # ... out of this many that could be made

    @property
    def supported(self) -> bool | None:
        """True/False when judged (partly counts as False), None when it can't be judged."""
        return None if self.verdict == UNJUDGED else self.verdict == SUPPORTED

    def sentence(self) -> str:
        return f"**{self.statement}**: {self.verdict}. {self.detail}"


def _verdict(holds: int, total: int) -> str:
    if total == 0:
        return UNJUDGED
    if holds == total:
        return SUPPORTED
    return NOT_SUPPORTED if holds == 0 else PARTLY


def _signed(value: float, unit: str) -> str:
    # Epoch differences are whole numbers; a decimal would suggest a precision they lack.
    return _points(value) if unit == "points" else f"{value:+.0f}".replace("-", "−")


def _margin_range(margins: Sequence[float], unit: str) -> str:
    low, high = min(margins), max(margins)
    if math.isclose(low, high):
        return f"{_signed(low, unit)} {unit}"
    return f"{_signed(low, unit)} to {_signed(high, unit)} {unit}"


def _comparison_claim(
    number: int,
    statement: str,
    what: str,
    margins: dict[str, float],
    missing: str,
    unit: str = "points",
    list_all: bool = False,
) -> Claim:
    """A claim judged by the sign of ``margins`` (positive: the claimed direction; ties fail).

    The failing comparisons are always named; ``list_all`` names every one, for claims whose
    comparisons differ in a way the reader must see (such as which label fraction was used).
    """
    if not margins:
        return Claim(number, statement, UNJUDGED, missing)
    holds = sum(m > 0 for m in margins.values())
    total = len(margins)
    span = _margin_range(list(margins.values()), unit)
    detail = f"Holds in {holds} of {total} {what}; margins {span}."
    if list_all:
        named = [f"{name} ({_signed(m, unit)})" for name, m in margins.items()]
        detail += " Compared: " + ", ".join(named) + "."
    else:
        fails = [f"{name} ({_signed(m, unit)})" for name, m in margins.items() if m <= 0]
        if fails:
            detail += " It does not hold for " + ", ".join(fails) + "."
    return Claim(number, statement, _verdict(holds, total), detail, holds, total)


def _augmentation_claims(data: Data, study: AugmentationStudy) -> list[Claim]:
    matter = "Augmentations matter: some choices are much better than others"
    fade_tm = "Fade in/out + time masking is the best pair"
    if not study.matrices:
        why = (
            "No augmentation-study runs (experiment = `augmentation`) in this run's results; "
            "the profile may not include E1."
        )
        return [Claim(1, matter, UNJUDGED, why), Claim(1, fade_tm, UNJUDGED, why)]
    spreads, ranks = [], []
    holds_spread = holds_rank = judged_rank = 0
    keys = _study_keys(study, data.datasets)
    for key in keys:
        label = _study_label(study, key)
        cells = _unique_cells(study.matrices[key], study.axis)
        best = max(cells, key=lambda c: cells[c].mean)
        worst = min(cells, key=lambda c: cells[c].mean)
        spread = 100 * (cells[best].mean - cells[worst].mean)
        holds_spread += spread >= MUCH_BETTER_POINTS
        spreads.append(
            f"{label}: best {_aug_name(best)} {100 * cells[best].mean:.1f} %, worst "
            f"{_aug_name(worst)} {100 * cells[worst].mean:.1f} %, spread {spread:.1f} points "
            f"({len(cells)} cells measured)"
        )
        pairs = {c: s for c, s in cells.items() if c[0] != c[1]}
        target = ("fade", "time_mask")
        if target not in pairs:
            ranks.append(f"{label}: fade + time_mask not measured")
            continue
        judged_rank += 1
        rank = 1 + sum(s.mean > pairs[target].mean for s in pairs.values())
        holds_rank += rank == 1
        top = max(pairs, key=lambda c: pairs[c].mean)
        ranks.append(
            f"{label}: fade + time_mask ranks {rank} of {len(pairs)} pairs "
            f"({100 * pairs[target].mean:.1f} %; best pair {_aug_name(top)} "
            f"{100 * pairs[top].mean:.1f} %)"
        )
    matter_detail = (
        f"The best and the worst augmentation cell (singles and pairs) differ by at least "
        f"{MUCH_BETTER_POINTS:g} points on {holds_spread} of {len(keys)} data sets. "
        + "; ".join(spreads)
        + "."
    )
    rank_detail = (
        f"Fade + time_mask is the best pair on {holds_rank} of {judged_rank} data sets where "
        "it was measured. " + "; ".join(ranks) + "."
    )
    if judged_rank == 0:
        rank_detail = "; ".join(ranks) + "."
    return [
        Claim(1, matter, _verdict(holds_spread, len(keys)), matter_detail, holds_spread, len(keys)),
        Claim(1, fade_tm, _verdict(holds_rank, judged_rank), rank_detail, holds_rank, judged_rank),
    ]


def _input_claim(data: Data) -> Claim:
    cells = data.grid.get("accuracy", {})
    margins: dict[str, float] = {}
    complete: dict[str, bool] = {}
    for dataset in data.datasets:
        for objective in _objectives_of(cells, dataset):
            raw = cells.get((dataset, "raw", objective, FULL_FRACTION))
            spec = cells.get((dataset, "spectrogram", objective, FULL_FRACTION))
            if raw and spec:
                margin = 100 * (spec.mean - raw.mean)
                margins[f"{dataset}/{_objective_name(objective)}"] = margin
                complete[dataset] = complete.get(dataset, True) and margin > 0
    claim = _comparison_claim(
        2,
        "Spectrogram input beats raw waveform for supervised, self-supervised and CLAR",
        f"(data set, objective) comparisons of evaluation-head accuracy at {_pct(FULL_FRACTION)} "
        "labels (margin = spectrogram − raw)",
        margins,
        "No data set has grid runs with both raw and spectrogram input at "
        f"{_pct(FULL_FRACTION)} labels; the profile may train one input only.",
    )
    if complete:
        wins = sum(complete.values())
        detail = (
            f"{claim.detail} Spectrogram wins for every measured objective on {wins} of "
            f"{len(complete)} data sets."
        )
        claim = replace(claim, detail=detail)
    return claim


def _hybrid_claims(data: Data, curves: dict[Key, Curve]) -> list[Claim]:
    cells = data.grid.get("accuracy", {})
    versus_contrastive: dict[str, float] = {}
    versus_supervised: dict[str, float] = {}
    for dataset in data.datasets:
        for input_ in _inputs_of(cells, dataset):
            fractions = _fractions_of(cells, dataset, input_)
            for fraction in fractions:
                hybrid = cells.get((dataset, input_, "hybrid", fraction))
                contrastive = cells.get((dataset, input_, "contrastive", fraction))
                if hybrid and contrastive:
                    name = f"{dataset}/{input_}/{_pct(fraction)}"
                    versus_contrastive[name] = 100 * (hybrid.mean - contrastive.mean)
            low = [
                f
                for f in fractions
                if f < FULL_FRACTION
                and (dataset, input_, "hybrid", f) in cells
                and (dataset, input_, "supervised", f) in cells
            ]
            if low:
                f = low[0]
                diff = cells[(dataset, input_, "hybrid", f)].mean
                diff -= cells[(dataset, input_, "supervised", f)].mean
                versus_supervised[f"{dataset}/{input_} at {_pct(f)} labels"] = 100 * diff
    claims = [
        _comparison_claim(
            3,
            "CLAR beats self-supervised pre-training + evaluation head at every label fraction",
            "(data set, input, label fraction) comparisons of evaluation-head accuracy "
            "(margin = CLAR − self-supervised)",
            versus_contrastive,
            "No grid configuration has both CLAR (hybrid) and self-supervised "
            "(contrastive) runs; the run may have trained one loss only.",
        ),
        _comparison_claim(
            3,
            "CLAR beats supervised training at the lowest label fraction",
            "(data set, input) comparisons of evaluation-head accuracy at the lowest label "
            "fraction below 100 % that both were run at (margin = CLAR − supervised)",
            versus_supervised,
            "No data set has both CLAR and supervised grid runs below "
            f"{_pct(FULL_FRACTION)} labels.",
            list_all=True,
        ),
    ]
    share = f"{100 * CONVERGENCE_SHARE:g} %"
    epochs_saved: dict[str, float] = {}
    notes = []
    for hybrid in (c for cs in _curves_by_dataset(data, curves).values() for c in cs):
        key = hybrid.key
        if key[2] != "hybrid" or (other := curves.get((*key[:2], "contrastive", key[3]))) is None:
            continue
        name = f"{key[0]}/{key[1]}/{_pct(float(key[3]))}"
        h, c = hybrid.converged_epoch(), other.converged_epoch()
        epochs_saved[name] = c - h
        notes.append(
            f"{name}: CLAR at epoch {h} (final {100 * hybrid.final.mean:.1f} %), "
            f"self-supervised at epoch {c} (final {100 * other.final.mean:.1f} %)"
        )
    claim = _comparison_claim(
        3,
        "CLAR converges faster than the self-supervised model",
        f"convergence comparisons; a model has converged at the first epoch whose seed-mean "
        f"held-out accuracy reaches {share} of its own final seed-mean held-out accuracy "
        "(margin = self-supervised epoch − CLAR epoch)",
        epochs_saved,
        "No convergence runs (experiment = `convergence`) for both CLAR and "
        "the self-supervised model.",
        unit="epochs",
    )
    if notes:
        claim = replace(claim, detail=f"{claim.detail} {'; '.join(notes)}.")
    return [*claims, claim]


def claims(results: pd.DataFrame, run_info: dict | None = None) -> list[Claim]:
    """The three claims of PAPER.md, split into checkable parts, judged on ``results``."""
    data = _collect(results, run_info or {})
    return _claims(data, augmentation_study(data.df), convergence_curves(data.df))


def _claims(data: Data, study: AugmentationStudy, curves: dict[Key, Curve]) -> list[Claim]:
    return [*_augmentation_claims(data, study), _input_claim(data), *_hybrid_claims(data, curves)]


# --------------------------------------------------------------------------------------------
# Front page
# --------------------------------------------------------------------------------------------

CLAIM_TITLES = {
    1: "Claim 1: audio augmentations matter for contrastive learning (E1)",
    2: "Claim 2: spectrogram input beats raw waveform (E2)",
    3: "Claim 3: CLAR beats self-supervised and, with few labels, supervised training (E3, E4)",
}


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _what_ran(data: Data, run_info: dict) -> str:
    seeds = run_info.get("seeds") or sorted({int(s) for s in data.df["seed"].dropna()})
    revs = _ordered(data.df["git_rev"])
    text = "## What ran\n\n"
    text += f"- profile: `{run_info.get('profile', 'unknown')}`\n"
    text += f"- git revision: `{run_info.get('git_rev', 'unknown')}`"
    if revs and revs != [run_info.get("git_rev")]:
        text += " (result rows come from revisions " + ", ".join(f"`{r}`" for r in revs) + ")"
    text += f"\n- hardware: {run_info.get('hardware', 'unknown')}\n"
    text += f"- seeds: {', '.join(str(s) for s in seeds) or 'none'}\n"
    text += f"- result rows: {len(data.df)}\n"
    infos = run_info.get("datasets", {})
    if data.datasets or infos:
        text += "\n### Data sets\n\n"
        rows = []
        for name in _ordered([*infos, *data.datasets], list(infos)):
            info = infos.get(name, {})
            if info.get("embedded"):
                real = STAND_INS.get(name)
                source = (
                    f"generated stand-in for {real}, not the real recordings"
                    if real
                    else "generated stand-in, not a real corpus"
                )
            elif info:
                source = "real data"
            else:
                source = "not described in run_info"
            clips = info.get("clips", {})
            rows.append(
                [
                    name,
                    source,
                    str(info.get("task", MISSING)),
                    str(len(info["classes"])) if "classes" in info else MISSING,
                    " / ".join(str(clips.get(s, MISSING)) for s in ("train", "valid", "test")),
                ]
            )
        text += _md_table(
            ["data set", "data", "task", "classes", "clips train / valid / test"], rows
        )
    stages = run_info.get("stage_seconds", {})
    if stages:
        text += "\n### Wall time per stage group\n\n"
        rows = [[name, _duration(float(s))] for name, s in stages.items()]
        rows.append(["**total**", f"**{_duration(sum(float(s) for s in stages.values()))}**"])
        text += _md_table(["stage", "wall time"], rows)
        text += (
            "\nEach stage from the start of its process to its end, summed over the group; "
            "DVC's own checks between stages (a few seconds each) come on top.\n"
        )
    return text


def _claims_section(found: Sequence[Claim]) -> str:
    text = "## Claims of the paper, as measured here\n\n"
    text += (
        "Each claim of PAPER.md is split into the parts that can be checked; a part is "
        f"*{SUPPORTED}* when it holds in every comparison this run allows, *{PARTLY}* when in "
        f"some, *{NOT_SUPPORTED}* when in none, and *{UNJUDGED}* when the run lacks the rows.\n"
    )
    for number, title in CLAIM_TITLES.items():
        text += f"\n### {title}\n\n"
        text += "".join(f"- {c.sentence()}\n" for c in found if c.number == number)
    return text


def _demote(markdown: str) -> str:
    """Push a table file's headings one level down so it nests under a front-page section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _without_title(markdown: str) -> str:
    return markdown.split("\n", 1)[1].lstrip("\n") if markdown.startswith("# ") else markdown


def _figure_links(stem: str, alt: str) -> str:
    return f"![{alt}]({stem}.png)\n\n([PNG]({stem}.png), [SVG]({stem}.svg))\n"


def _index(data: Data, run_info: dict, found: Sequence[Claim], tables: dict[str, str]) -> str:
    sections = [
        ("E1: augmentation study", "e1_augmentations.md", "e1_heatmaps"),
        ("E2: raw waveform vs spectrogram", "e2_raw_vs_spectrogram.md", None),
        ("E3: label fractions", "e3_label_fractions.md", "e3_label_fractions"),
        ("E4: convergence", "e4_convergence.md", "e4_convergence"),
    ]
    text = "# CLAR reproduction: results\n\n"
    text += (
        "Every number and figure on this page is derived from [results.csv](results.csv) "
        "(one row per run and metric); cells are mean ± sample std over seeds with the number "
        "of seeds n, in %.\n\n"
    )
    text += _what_ran(data, run_info) + "\n" + _claims_section(found)
    for title, table, figure in sections:
        text += f"\n## {title}\n\nTable: [{table}]({table})"
        text += "\n\n" if figure is None else f"; figure: [{figure}.png]({figure}.png)\n\n"
        if figure is not None:
            text += _figure_links(figure, title) + "\n"
        text += _demote(_without_title(tables[table])) + "\n"
    text += "\n## Confusion matrices\n\n" + _figure_links("confusions", "confusion matrices")
    text += "\n## Files\n\n" + "".join(
        f"- [{name}]({name})\n" for name in OUTPUT_FILES if name != INDEX_FILE
    )
    return text


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _panels(n: int, width: float = 4.8, height: float = 3.8) -> tuple[Figure, list]:
    """A figure with ``n`` panels, at most three per row; unused slots are hidden."""
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _placeholder(message: str) -> Figure:
    """A figure that says what is missing: dvc.yaml declares fixed figure files."""
    fig = Figure(figsize=(6, 1.5))
    fig.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary sibling so a reader never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_text(path: Path, text: str) -> Path:
    return _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    # Fixed metadata and hash salt keep the files byte-identical for identical results, so DVC
    # does not see a change where there is none.
    metadata = {"png": {"Software": None}, "svg": {"Date": None}}
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "clar-report"}):
        for ext in FIGURE_FORMATS:
            paths.append(
                _atomic_write(
                    out_dir / f"{stem}.{ext}",
                    lambda tmp, ext=ext: fig.savefig(
                        tmp, format=ext, dpi=120, metadata=metadata[ext], bbox_inches="tight"
                    ),
                )
            )
    return paths


def render(results: pd.DataFrame, run_info: dict, out_dir: Path) -> list[Path]:
    """Write every table, figure and index.md into out_dir; return the written paths.

    Every file of :data:`OUTPUT_FILES` is always written, saying what is missing where an
    experiment has no rows, so the DVC stage's outputs never depend on the profile.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = _collect(results, run_info)
    study = augmentation_study(data.df)
    curves = convergence_curves(data.df)
    tables = {
        "e1_augmentations.md": _e1_table(data, study),
        "e2_raw_vs_spectrogram.md": _e2_table(data),
        "e3_label_fractions.md": _e3_table(data),
        "e4_convergence.md": _e4_table(data, curves),
    }
    written = [_write_text(out_dir / name, text) for name, text in tables.items()]
    figures = {
        "e1_heatmaps": _e1_figure(data, study),
        "e3_label_fractions": _e3_figure(data),
        "e4_convergence": _e4_figure(data, curves),
        "confusions": _confusion_figure(best_confusions(data, run_info)),
    }
    for stem, fig in figures.items():
        written += _write_figure(fig, out_dir, stem)
    index = _index(data, run_info, _claims(data, study, curves), tables)
    written.append(_write_text(out_dir / INDEX_FILE, index))
    return written
