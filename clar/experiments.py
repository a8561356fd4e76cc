"""The paper's experiments as runs: what each training stage trains and how it is scored.

- E2-E4, the grid (:func:`grid_cell`): one run per data set, input, objective, label fraction
  and seed. Objectives that use labels train once per fraction; the label-free one trains once
  per seed and its frozen encoder is scored at every fraction. A cell (data set, input,
  objective) holds all its seeds: the seeds are what the report's intervals resample.
- E1, the augmentation study (:func:`augmentation_study`): contrastive training with each
  single augmentation and each pair, scored at 100 % labels.

Evaluation runs in the same process as training: a stage started again after a change to
``evaluate:`` finds the finished checkpoint and only re-scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clar import distributed, layout, runs
from clar.config import Params
from clar.data.store import Store
from clar.probe import embed_splits, evaluate
from clar.runs import Run
from clar.train import pick_device, train
from clar.vocabulary import (
    CONTRASTIVE,
    CONVERGENCE_COMPARED,
    FULL_FRACTION,
    LABEL_FREE,
    OWN_CLASSIFIER,
)


def train_and_evaluate(
    params: Params, run: Run, experiment: str, fractions: Sequence[float], name: str
) -> Path:
    """Train ``run`` (or resume it), then write its evaluation at each label fraction.

    ``name`` says on the progress bars which run of the stage this is. Returns the run's folder.
    """
    store = Store.open(layout.prepared(run.dataset))
    features_dir = layout.features(run.dataset)
    out = runs.folder(run, experiment)
    history = train(
        run,
        store,
        params.train.for_run(run.dataset, run.objective),
        params.augment,
        params.features,
        out,
        runs.checkpoint_folder(run, experiment),
        features_dir,
        monitor=experiment == runs.GRID and run.objective in CONVERGENCE_COMPARED,
        desc=name,
    )
    if distributed.rank() > 0:
        return out  # rank 0 alone evaluates; the others wait for it in the next collective
    device = pick_device(params.train.device)
    model, info, features = runs.load_model(out, device)
    embedded = embed_splits(
        model,
        store,
        features_dir,
        features,
        params.evaluate.batch_size,
        device,
        params.train.device_clips_bytes,
    )
    for fraction in fractions:
        scored, predictions = evaluate(
            model,
            store,
            embedded,
            fraction,
            params.evaluate,
            seed=run.seed,
            own_classifier=run.objective in OWN_CLASSIFIER,
            desc=f"{name}: head at {fraction:g} %",
        )
        result = {"run": info["run"], **scored}
        runs.write_evaluation(out, result)
        runs.write_predictions(out, fraction, predictions)
        print(
            f"{out}: {len(history)} epochs; at {fraction:g} % labels the evaluation head "
            f"scores {result['evaluation_head']['accuracy']:.3f} on the test split"
        )
    return out


def grid_cell(params: Params, dataset: str, input: str, objective: str) -> Path:
    """One cell of the E2-E4 grid, every seed of ``grid.seeds`` trained and scored; returns the
    cell's folder.

    Objectives that use labels train one run per label fraction of the input; label-free ones
    train one run per seed, scored at every fraction.
    """
    fractions = params.grid.fractions_for(input)
    cell = [
        (seed, fraction)
        for seed in params.grid.seeds
        for fraction in ((None,) if objective in LABEL_FREE else fractions)
    ]
    for k, (seed, fraction) in enumerate(cell, 1):
        run = runs.grid_run(dataset, input, objective, fraction, seed, params.grid.augmentations)
        labelled = "" if run.label_free else f"{fraction:g} % "
        name = f"{dataset} {input} {objective} {labelled}seed {seed} ({k} of {len(cell)})"
        train_and_evaluate(
            params, run, runs.GRID, fractions if run.label_free else (fraction,), name
        )
    return runs.cell_folder(dataset, input, objective)


def augmentation_study(params: Params, dataset: str) -> Path:
    """E1 on ``dataset``: every combination of ``augmentation_study.combos``, trained and
    scored; returns the folder that holds the study's runs."""
    study = params.augmentation_study
    for k, combo in enumerate(study.combos, 1):
        run = Run(dataset, study.input, CONTRASTIVE, FULL_FRACTION, study.seed, combo)
        name = f"E1 {dataset} {run.views} ({k} of {len(study.combos)})"
        train_and_evaluate(params, run, runs.AUGMENTATION, (FULL_FRACTION,), name)
    return runs.experiment_folder(runs.AUGMENTATION, dataset)
