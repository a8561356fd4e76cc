"""The paper's experiments as training stages: each trains the runs of one cell of
:mod:`clar.grid` and scores them.

- E2-E4, the grid (:func:`grid_cell`): a cell (data set, encoder, objective) holds all its
  seeds, which are what the report's intervals resample.
- E1, the augmentation study (:func:`augmentation_study`): ``augmentation_study.objective``
  with each combination of augmentations, scored at 100 % labels.

Evaluation runs in the same process as training: a stage started again after a change to
``evaluate:`` finds the finished checkpoint and only re-scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from clar import distributed, grid, layout, runs
from clar.atomic import write_json
from clar.config import Params
from clar.data.store import Store
from clar.frame_embeddings import takes_frames
from clar.objectives import OBJECTIVES
from clar.probe import embed_splits, evaluate
from clar.runs import Run
from clar.train import pick_device, train


def train_and_evaluate(
    params: Params, run: Run, experiment: str, fractions: Sequence[float], name: str
) -> Path:
    """Train ``run`` (or resume it), then write its evaluation at each label fraction.

    ``name`` says on the progress bars which run of the stage this is. Returns the run's folder.
    """
    objective = OBJECTIVES.get(run.objective)
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
        monitor=grid.monitored(experiment, run.objective),
        desc=name,
        options=grid.objective_options(params, run.objective),
    )
    if distributed.rank() > 0:
        return out  # rank 0 alone evaluates; the others wait for it in the next collective
    device = pick_device(params.train.device)
    model, info, features = runs.load_model(out, device)
    heads = (params.evaluate.head, *params.evaluate.extra_heads)
    embedded = embed_splits(
        model,
        store,
        features_dir,
        features,
        params.evaluate.batch_size,
        device,
        params.train.device_clips_bytes,
        frames=takes_frames(*heads),
    )
    for fraction in fractions:
        # The first is evaluate.head, the run's evaluation; the others are probes beside it.
        for k, head in enumerate(heads):
            scored, predictions = evaluate(
                model,
                store,
                embedded,
                fraction,
                params.evaluate,
                seed=run.seed,
                own_classifier=k == 0 and objective.own_classifier,
                desc=f"{name}: {head} head at {fraction:g} %",
                head_name=head,
            )
            result = {"run": info["run"], **scored}
            if k > 0:
                runs.write_probe(out, head, result, predictions)
                continue
            runs.write_evaluation(out, result)
            runs.write_predictions(out, fraction, predictions)
            print(
                f"{out}: {len(history)} epochs; at {fraction:g} % labels the evaluation head "
                f"scores {result['evaluation_head']['accuracy']:.3f} on the test split"
            )
    return out


def run_cell(params: Params, cell: grid.Cell) -> Path:
    """Train and score every run of ``cell``; returns the stage's output folder."""
    grid.load_methods(params)
    scored = grid.cell_scored(params, cell)
    for k, item in enumerate(scored, 1):
        run = item.run
        if cell.experiment == runs.AUGMENTATION:
            name = f"E1 {cell.dataset} {run.views} ({k} of {len(scored)})"
        else:
            labelled = "" if run.label_free else f"{run.fraction:g} % "
            name = (
                f"{cell.dataset} {cell.input} {cell.objective} {labelled}seed {run.seed} "
                f"({k} of {len(scored)})"
            )
        train_and_evaluate(params, run, cell.experiment, item.fractions, name)
    if cell.experiment == runs.AUGMENTATION:
        return runs.experiment_folder(runs.AUGMENTATION, cell.dataset)
    return runs.cell_folder(cell.dataset, cell.input, cell.objective)


def skip_cell(params: Params, dataset: str, input: str, objective: str) -> Path | None:
    """For a stage of dvc.yaml's matrix that is no cell of the grid (:func:`grid.skipped_cells`):
    write the note of why into its output folder and return the folder; otherwise None.

    The note is all the folder holds: no ``run.json``, no evaluation, so the report and the
    completeness check, which take their runs from the grid's cells, never look for it."""
    grid.load_methods(params)
    cell = grid.Cell(runs.GRID, dataset, input, objective)
    if grid.accepts(objective, input):
        return None
    out = runs.cell_folder(dataset, input, objective)
    out.mkdir(parents=True, exist_ok=True)
    reason = grid.skip_reason(cell)
    write_json(out / grid.SKIPPED_FILE, {"cell": asdict(cell), "reason": reason})
    print(f"{out}: {reason}")
    return out


def grid_cell(params: Params, dataset: str, input: str, objective: str) -> Path:
    """One cell of the E2-E4 grid, every seed of ``grid.seeds`` trained and scored; returns the
    cell's folder."""
    return run_cell(params, grid.Cell(runs.GRID, dataset, input, objective))


def augmentation_study(params: Params, dataset: str) -> Path:
    """E1 on ``dataset``: every combination of ``augmentation_study.combos``, trained and
    scored; returns the folder that holds the study's runs."""
    study = params.augmentation_study
    return run_cell(params, grid.Cell(runs.AUGMENTATION, dataset, study.input, study.objective))
