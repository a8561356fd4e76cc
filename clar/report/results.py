"""Run folders -> the one long table that reports/ is rendered from.

One row per (experiment, data set, input, objective, label fraction, augmentations, seed, epoch,
metric): see :data:`COLUMNS`. Evaluations (grid and augmentation-study runs) give metric rows;
grid runs' training histories give convergence rows: the training loss of every epoch and the
held-out accuracy of every probed one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clar import grid, runs
from clar.config import Params
from clar.vocabulary import FULL_FRACTION, join_combo

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
# Stamped on every row by :func:`collect`, not read from the run folders.
PROVENANCE_COLUMNS = ("profile", "git_rev")

# The table's experiments: the run folders' two, plus the grid runs' training curves.
CONVERGENCE = "convergence"

# The metrics: the evaluation head's scores, the run's own classifier's (objectives that have
# one), the held-out accuracy per epoch (convergence rows), and one count per (true, predicted)
# class pair of the evaluation head's confusion matrix, named ``confusion/<true>/<predicted>``.
ACCURACY = "accuracy"
MACRO_F1 = "macro_f1"
CLASSIFIER_ACCURACY = "classifier_accuracy"
CLASSIFIER_MACRO_F1 = "classifier_macro_f1"
HELDOUT_ACCURACY = "heldout_accuracy"
TRAINING_LOSS = "loss"
# What a convergence row may hold: never a wall-clock column of history.tsv (seconds, clips per
# second), so the table is the same wherever the runs trained.
CURVE_METRICS = (TRAINING_LOSS, HELDOUT_ACCURACY)
CONFUSION = "confusion/"
# What the evaluation was fitted and scored on: the evaluation head's validation accuracy (what
# model selection may look at, never the test split), the labelled clips a nominal fraction
# really gave (count, percent of the training split, fewest and most per class) and the test
# clips scored.
VALID_ACCURACY = "valid_accuracy"
LABELLED_CLIPS = "labelled_clips"
LABELLED_SHARE = "labelled_share"
LABELLED_MIN_PER_CLASS = "labelled_min_per_class"
LABELLED_MAX_PER_CLASS = "labelled_max_per_class"
TEST_CLIPS = "test_clips"
# An evaluation head of ``evaluate.extra_heads``, scored beside the evaluation head on the same
# run: its own metric names, so that no row of the evaluation head's changes and a results table
# without extra heads is the same as before they existed.
HEAD_METRIC = "head:"
HEAD_METRICS = (ACCURACY, MACRO_F1)


def head_metric(head: str, metric: str) -> str:
    """``("linear", "accuracy")`` -> ``"head:linear:accuracy"``."""
    return f"{HEAD_METRIC}{head}:{metric}"


def confusion_metric(true: str, predicted: str) -> str:
    return f"{CONFUSION}{true}/{predicted}"


def run_key(run: dict, experiment: str, fraction: float) -> dict:
    """The identifying columns of a run's rows (``run`` is run.json's ``"run"``)."""
    return {
        "experiment": experiment,
        "dataset": run["dataset"],
        "input": run["input"],
        "objective": run["objective"],
        "fraction": float(fraction),
        "augmentations": join_combo(run["augmentations"]),
        "seed": int(run["seed"]),
        "epoch": None,
    }


def metric_rows(result: dict, experiment: str) -> list[dict]:
    """The rows of one evaluation (the JSON a run folder's ``evaluation-f<fraction>.json``
    holds)."""
    key = run_key(result["run"], experiment, result["fraction"])
    head = result["evaluation_head"]
    rows = [
        {**key, "metric": ACCURACY, "value": head["accuracy"]},
        {**key, "metric": MACRO_F1, "value": head["macro_f1"]},
    ]
    if result.get("classifier"):
        rows += [
            {**key, "metric": CLASSIFIER_ACCURACY, "value": result["classifier"]["accuracy"]},
            {**key, "metric": CLASSIFIER_MACRO_F1, "value": result["classifier"]["macro_f1"]},
        ]
    if head.get(VALID_ACCURACY) is not None:
        rows.append({**key, "metric": VALID_ACCURACY, "value": head[VALID_ACCURACY]})
    rows += [{**key, "metric": m, "value": v} for m, v in _sample_sizes(result).items()]
    classes = result["classes"]
    for t, row in enumerate(head["confusion"]):
        rows += [
            {**key, "metric": confusion_metric(classes[t], classes[p]), "value": count}
            for p, count in enumerate(row)
        ]
    return rows


def probe_rows(result: dict, experiment: str) -> list[dict]:
    """The rows of one extra head's evaluation (:func:`clar.runs.write_probe`): its
    :data:`HEAD_METRICS` under :func:`head_metric` names."""
    key = run_key(result["run"], experiment, result["fraction"])
    head = result["evaluation_head"]
    return [{**key, "metric": head_metric(head["kind"], m), "value": head[m]} for m in HEAD_METRICS]


def _sample_sizes(result: dict) -> dict[str, float]:
    """The labelled and test clip counts of an evaluation, where it records them."""
    out: dict[str, float] = {}
    labelled = result.get("labelled")
    if labelled:
        out[LABELLED_CLIPS] = labelled["clips"]
        out[LABELLED_SHARE] = labelled["share"]
        per_class = list(labelled.get("per_class", {}).values())
        if per_class:
            out[LABELLED_MIN_PER_CLASS] = min(per_class)
            out[LABELLED_MAX_PER_CLASS] = max(per_class)
    if result.get(TEST_CLIPS) is not None:
        out[TEST_CLIPS] = result[TEST_CLIPS]
    return out


def history_rows(run_dir: Path) -> list[dict]:
    """Convergence rows of one training run: each of :data:`CURVE_METRICS` at every epoch
    that has it."""
    if not (run_dir / runs.HISTORY_FILE).exists():
        return []
    run = runs.read_run_info(run_dir)["run"]
    history = runs.read_history(run_dir)
    key = run_key(run, CONVERGENCE, run["fraction"])
    return [
        {**key, "epoch": int(epoch), "metric": metric, "value": float(value)}
        for metric in CURVE_METRICS
        if metric in history
        for epoch, value in zip(history["epoch"], history[metric], strict=True)
        if pd.notna(value)
    ]


def collect(runs_dir: Path, profile: str, git_rev: str) -> pd.DataFrame:
    """Every evaluation and every grid training history under ``runs_dir``, as one long
    DataFrame with :data:`COLUMNS`."""
    rows: list[dict] = []
    for experiment in runs.EXPERIMENTS:
        for result in runs.evaluations(runs_dir, experiment):
            rows += metric_rows(result, experiment)
    for run_dir in runs.trained(runs_dir, runs.GRID):
        rows += history_rows(run_dir)
    for experiment in runs.EXPERIMENTS:
        for _, result in runs.probes(runs_dir, experiment):
            rows += probe_rows(result, experiment)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in PROVENANCE_COLUMNS])
    frame["epoch"] = frame["epoch"].astype("Int64")
    frame["profile"] = profile
    frame["git_rev"] = git_rev
    return frame


# The columns that name a run (with ``experiment``; an evaluation adds its ``fraction``).
RUN_KEY = ("dataset", "input", "objective", "seed", "augmentations")


def selected(frame: pd.DataFrame, params: Params) -> pd.Series:
    """The rows of the runs the current parameters define (:func:`clar.grid.every_run`), as
    a mask; ``frame`` is any table with the run key columns (the results table, the per-clip
    table, the training settings)."""
    any_fraction, at_fraction, study = set(), set(), set()
    for cell, scored in grid.every_run(params):
        run = scored.run
        key = (run.dataset, run.input, run.objective, run.seed, join_combo(run.augmentations))
        if cell.experiment == runs.AUGMENTATION:
            study.add(key)
        elif run.label_free:
            # Label-free runs train on no labels: evaluated at every fraction, listed or not.
            any_fraction.add(key)
        else:
            at_fraction.update((*key, float(f)) for f in scored.fractions)
    keys = list(zip(*(frame[c] for c in RUN_KEY), strict=True))
    fractions = frame["fraction"].tolist()
    in_grid = [
        k in any_fraction or (*k, f) in at_fraction for k, f in zip(keys, fractions, strict=True)
    ]
    on_grid = frame["experiment"].isin([runs.GRID, CONVERGENCE]) & pd.Series(
        in_grid, index=frame.index, dtype=bool
    )
    in_study = pd.Series([k in study for k in keys], index=frame.index, dtype=bool)
    return on_grid | ((frame["experiment"] == runs.AUGMENTATION) & in_study)


def select(frame: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Keep the rows of the runs the current parameters define.

    Outputs of stages an earlier experiment ran stay on disk (``-S loss=hybrid`` does not delete
    the contrastive runs); a report must not mix them in.
    """
    return frame[selected(frame, params)].reset_index(drop=True)


def summary(frame: pd.DataFrame) -> dict:
    """Headline metrics for ``dvc exp show``: test accuracy of the evaluation head at 100 %
    labels, mean over seeds, per data set, input and objective:
    ``{dataset: {input: {objective: accuracy}}}``."""
    rows = frame[
        (frame["experiment"] == runs.GRID)
        & (frame["metric"] == ACCURACY)
        & (frame["fraction"] == FULL_FRACTION)
    ]
    out: dict = {}
    for (dataset, input_, objective), group in rows.groupby(["dataset", "input", "objective"]):
        out.setdefault(dataset, {}).setdefault(input_, {})[objective] = round(
            float(group["value"].mean()), 4
        )
    return out
