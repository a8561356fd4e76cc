"""One training loop for every objective (:mod:`clar.objectives`): the paper's supervised,
contrastive and CLAR's hybrid, and any other registered.

Read it top to bottom: the batches of an epoch, the set-up of a run, one epoch, checkpoints,
the run's files, then :func:`train`, which strings them together with the held-out monitor
(:mod:`clar.monitor`). The
clips go to the device once; augmentation and (for spectrogram input) the features run there,
batched, inside the loop. Every objective gets the same number of optimisation steps per epoch
(one pass over all training clips): one that trains on the labelled fraction only cycles
through it, so a low label fraction does not also mean fewer updates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from clar import distributed, runs, sources
from clar.augment.transforms import augment
from clar.batches import epoch_draw
from clar.config import AugmentParams, FeatureParams, TrainParams
from clar.data.clips import Clips
from clar.data.store import Store
from clar.encoders import ENCODERS
from clar.errors import ClarError
from clar.models import Model, build_model
from clar.monitor import HeldOutMonitor
from clar.objectives import OBJECTIVES, Objective
from clar.optim import build_optimizer, warmup_cosine
from clar.plugins import files_digest
from clar.probe import encoder_inputs, recompute_batch_norm
from clar.progress import progress_bar
from clar.runs import Run


def training_network(
    model: Model, device: torch.device, compile: bool, backend: str = "inductor"
) -> nn.Module:
    """What the loop trains: ``model`` itself, or when data-parallel its DDP wrapper
    (:func:`clar.distributed.wrap`), through ``torch.compile`` when ``compile``. ``backend``
    "aot_eager" traces the same graphs, forward and backward, without inductor's code
    generation (minutes on a CPU): what the GPU check's dry run compiles with."""
    net = distributed.wrap(model, device, compile)
    if not compile:
        return net
    # One graph per batch shape: a process that trains runs of other shapes (a stage's runs,
    # the bench) would otherwise switch to dynamic shapes, which inductor failed to compile for
    # these networks (torch 2.11, "cannot determine truth value of Relational").
    return torch.compile(net, dynamic=False, backend=backend)


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ClarError("train.device = 'cuda' but no CUDA device is visible; use auto or cpu")
    return torch.device(choice)


@dataclass
class Session:
    """What one run trains with, set up once by :func:`set_up`."""

    run: Run
    objective: Objective
    device: torch.device
    generator: torch.Generator
    clips: Clips
    labels: Tensor  # [N] the labels the objective may read (-1: none)
    pool: Tensor  # [P] the training clips batches are drawn from
    labelled: Tensor  # [L] the labelled clips, for an objective that draws them apart
    batch: int  # the global batch, split evenly over the ranks when data-parallel
    shown: int  # of each batch, the clips drawn apart from ``labelled`` (0: none)
    steps: int  # optimisation steps per epoch
    model: Model
    net: nn.Module  # what the loop runs: the model, or its DDP / compiled wrapper
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    augment: AugmentParams

    def views(self, x: Tensor, count: int, augmentations: Sequence[str] | None = None) -> Tensor:
        """``count`` augmented views of each clip ``[B, T]`` -> ``[count * B, T]``: with the
        run's augmentations, or those named."""
        names = self.run.augmentations if augmentations is None else augmentations
        return augment(x, names, self.generator, self.augment, count)


def make_objective(name: str, params: TrainParams, options: BaseModel | None = None) -> Objective:
    """The objective registered as ``name``, with the loop's temperature and negatives."""
    return OBJECTIVES.get(name)(params.temperature, params.negatives, options)


def set_up(
    run: Run,
    store: Store,
    params: TrainParams,
    augment_params: AugmentParams,
    features: FeatureParams,
    device: torch.device,
    options: BaseModel | None = None,
) -> Session:
    """Seed, put the training clips on the device, draw the pool, build the network, the
    optimiser and the schedule (in that order: the seeds' draws depend on it)."""
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(run.seed)
    # Each rank draws its own augmentations; rank 0 draws what a one-process run draws.
    generator = torch.Generator(device=device).manual_seed(distributed.rank_seed(run.seed))
    objective = make_objective(run.objective, params, options)
    clips = Clips(store.array("train"), device, params.device_clips_bytes)
    labelled = store.labelled(run.fraction).to(device)
    labels = objective.training_labels(store.labels("train").to(device), labelled)
    pool = objective.pool(labelled)
    batch = min(params.batch_size, len(pool) // distributed.world() * distributed.world())
    steps = max(1, math.ceil(len(clips) / params.batch_size))
    if batch < 2:
        raise ClarError(f"run {run}: {len(pool)} training clip(s) available; batch norm needs 2")
    labelled_clips = labelled.nonzero().squeeze(1)
    shown = min(objective.labelled_batch(batch), len(labelled_clips), batch - 1)
    model = build_model(
        run.input, run.objective, len(store.classes), params.width, store.sample_rate, features,
        objective.options,
    ).to(device)  # fmt: skip
    optimizer = build_optimizer(model, params.lr, params.weight_decay, params.lars)
    schedule = warmup_cosine(optimizer, params.warmup_epochs, params.epochs, steps)
    objective.schedule(steps, params.epochs)
    # Checkpoints, the probe and the saved weights use ``model``, whose parameters ``net``
    # shares (a wrapper's own state dict would prefix every key).
    net = training_network(model, device, params.compile)
    return Session(
        run, objective, device, generator, clips, labels, pool, labelled_clips, batch, shown,
        steps, model, net, optimizer, schedule, augment_params,
    )  # fmt: skip


def train_epoch(s: Session, epoch: int, params: TrainParams, bar) -> dict:
    """One pass of ``s.steps`` optimisation steps; returns the epoch's row of the history
    (the mean of each logged part of the loss over steps and ranks, and the learning rate).

    Raises:
        ClarError: the loss became NaN or infinite (one line: where, and what to try).
    """
    s.net.train()
    autocast = torch.autocast(s.device.type, dtype=torch.bfloat16, enabled=s.device.type == "cuda")
    per_step = []
    draw = epoch_draw(s.pool, s.labelled, s.labels, s.steps, s.batch, s.shown, s.generator)
    batches, targets = (distributed.shard(part) for part in draw)
    for labels, waveforms in zip(targets, s.clips.batches(batches), strict=True):
        with autocast:
            losses = s.objective.loss(s.net, waveforms, labels, s.views)
        s.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        s.optimizer.step()
        s.schedule.step()
        s.objective.after_step(s.model)
        per_step.append(torch.stack([value.detach() for value in losses.values()]))
        bar.update(s.batch)
    # One host sync per epoch, not one per step: [steps, parts], the mean over ranks (what
    # one process logs, and one verdict for every rank).
    logged = distributed.mean(torch.stack(per_step)).cpu()
    finite = torch.isfinite(logged[:, 0])
    if not finite.all():
        run, step = s.run, int((~finite).nonzero()[0])
        raise ClarError(
            f"run {run.dataset}/{run.input}/{run.objective} seed {run.seed}: the loss became "
            f"{logged[step, 0].item()} at epoch {epoch + 1}, step {step + 1} of {s.steps}; "
            f"lower train.lr (now {params.lr:g}) or check the data"
        )
    return {
        "epoch": epoch + 1,
        **dict(zip(losses, logged.mean(0).tolist(), strict=True)),
        "lr": s.schedule.get_last_lr()[0],
    }


def plugin_files(run: Run) -> list[Path]:
    """The plug-in files the run's objective and encoder come from (none for the paper's)."""
    return OBJECTIVES.source_files([run.objective]) + ENCODERS.source_files([run.input])


def checkpoint_inputs(
    s: Session,
    store: Store,
    params: TrainParams,
    augment_params: AugmentParams,
    features: FeatureParams,
) -> dict[str, str]:
    """What a checkpoint's numbers depend on (:func:`clar.runs.checkpoint_inputs`): the code
    (clar/ and the run's plug-in files), the parameters, and the clips themselves
    (``Store.content``), not only their names and counts."""
    plugins = plugin_files(s.run)
    return runs.checkpoint_inputs(
        code=sources.digest(__name__),
        # One part per plug-in file, so that a refusal names the file that changed.
        **{f"plugin {path.name}": files_digest([path]) for path in plugins},
        parameters=(s.run, params, augment_params, features, s.objective.options),
        data=(store.info, store.content),
    )


def resume(
    s: Session, folder: Path, stamp: str, inputs: dict[str, str], store: Store
) -> tuple[list, int]:
    """Load the checkpoint in ``folder`` written with ``stamp`` into the session; returns its
    history and the epoch to go on from (none: ``[]``, 0)."""
    why = {
        "code": "code (clar/)",
        **{f"plugin {p.name}": f"plug-in code ({p.name})" for p in plugin_files(s.run)},
        "data": f"clips ({store.folder} changed)",
    }
    state = runs.load_checkpoint(folder, stamp, inputs, why)
    if state is None:
        return [], 0
    s.model.load_state_dict(state["model"])
    s.optimizer.load_state_dict(state["optimizer"])
    s.schedule.load_state_dict(state["schedule"])
    s.generator.set_state(state["generators"][distributed.rank()])
    return state["history"], state["epoch"]


def save_checkpoint(
    s: Session, folder: Path, stamp: str, inputs: dict, epoch: int, history: list
) -> None:
    """Keep the session after ``epoch`` epochs; every rank's generator, so that a resumed job
    draws on as the uninterrupted one."""
    generators = distributed.gather_objects(s.generator.get_state())
    if distributed.rank() == 0:
        runs.save_checkpoint(
            folder,
            {
                "fingerprint": stamp,
                "inputs": inputs,
                "epoch": epoch,
                "model": s.model.state_dict(),
                "optimizer": s.optimizer.state_dict(),
                "schedule": s.schedule.state_dict(),
                "generators": generators,
                "history": history,
            },
        )


def write_outputs(
    s: Session,
    store: Store,
    train_inputs: tuple | None,
    params: TrainParams,
    augment_params: AugmentParams,
    features: FeatureParams,
    features_dir: Path | None,
    out_dir: Path,
    stamp: str,
    history: list[dict],
) -> None:
    """``model.pt``, ``run.json`` and ``history.tsv`` of the finished run.

    The saved model's batch-norm statistics are those of its final weights on the clips it
    trained on, un-augmented as every split is scored (clar.batchnorm); the checkpoint keeps
    the training's own, so that a resumed run trains on as an uninterrupted one.
    """
    model, device = s.model, s.device
    train_inputs = train_inputs or encoder_inputs(
        model, store, "train", features_dir, features, device, s.clips
    )
    statistics_clips = recompute_batch_norm(
        model, train_inputs, s.pool, params.batch_size, device, s.run.seed
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    runs.save(model.state_dict(), out_dir / runs.MODEL_FILE)
    runs.write_run_info(
        out_dir,
        {
            "run": asdict(s.run),
            "classes": store.classes,
            "sample_rate": store.sample_rate,
            "train": params.model_dump(mode="json"),
            "augment": augment_params.model_dump(mode="json"),
            "features": features.model_dump(mode="json"),
            "options": s.objective.options.model_dump(mode="json"),
            "device": str(device),
            "fingerprint": stamp,
            # What each step really used: the global batch is the pool's size where that is
            # smaller than train.batch_size (a supervised run at a low label fraction).
            "effective": {
                "batch_size": s.batch,
                "lr": params.lr,
                "epochs": params.epochs,
                "steps_per_epoch": s.steps,
                "warmup_epochs": params.warmup_epochs,
                "weight_decay": params.weight_decay,
                "lars": params.lars,
            },
            "batch_norm_statistics": {"recomputed_over_clips": statistics_clips},
            **({"plugins": plugins} if (plugins := runs.plugin_specs(s.run)) else {}),
        },
    )
    runs.write_history(out_dir, history)


def train(
    run: Run,
    store: Store,
    params: TrainParams,
    augment_params: AugmentParams,
    features: FeatureParams,
    out_dir: Path,
    checkpoint_dir: Path,
    features_dir: Path | None = None,
    progress: bool = True,
    monitor: bool = True,
    desc: str | None = None,
    options: BaseModel | None = None,
) -> list[dict]:
    """Train one run; write ``model.pt``, ``run.json`` and ``history.tsv`` into ``out_dir``.

    A checkpoint is kept in ``checkpoint_dir`` every ``params.checkpoint_every`` epochs; a run
    started again with the same inputs resumes from it and ends with the same numbers as an
    uninterrupted run. ``features_dir`` (the features stage's output) spares the held-out probe
    of a spectrogram run from computing the un-augmented features again. ``monitor`` logs the
    held-out probe every ``params.eval_every`` epochs (an E4 curve); without it no probe runs.
    ``desc`` names the run on its progress bar; ``options`` are the objective's own
    (``loss.options.<name>``). Returns the per-epoch history.
    """
    device = pick_device(params.device)
    if distributed.rank() == 0:
        runs.check_writable(checkpoint_dir, out_dir)
    s = set_up(run, store, params, augment_params, features, device, options)
    # Rank 0 alone probes; the others go on and wait for it in the next collective.
    probe = None
    if monitor and distributed.rank() == 0:
        probe = HeldOutMonitor(s.model, s.clips, store, features_dir, features, params, s.device)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    inputs = checkpoint_inputs(s, store, params, augment_params, features)
    stamp = runs.fingerprint(inputs)
    history, start = resume(s, checkpoint_dir, stamp, inputs, store)
    bar = progress_bar(
        total=params.epochs * s.steps * s.batch,
        initial=start * s.steps * s.batch,
        unit="clip",
        unit_scale=True,
        desc=desc or f"train {run.dataset} {run.input} {run.objective}",
        disable=not progress or distributed.rank() > 0,
    )
    for epoch in range(start, params.epochs):
        row = train_epoch(s, epoch, params, bar)
        last = epoch + 1 == params.epochs
        if probe is not None and ((epoch + 1) % params.eval_every == 0 or last):
            row["heldout_accuracy"] = probe(s.model, s.pool, s.run.seed)
        history.append(row)
        # The latest held-out accuracy, so the bar never shows a blank between probes.
        probed = [r["heldout_accuracy"] for r in history if "heldout_accuracy" in r]
        bar.set_postfix(
            epoch=epoch + 1,
            loss=f"{row['loss']:.3f}",
            **({"heldout": f"{probed[-1]:.2f}"} if probed else {}),
        )
        if (epoch + 1) % params.checkpoint_every == 0 or last:
            save_checkpoint(s, checkpoint_dir, stamp, inputs, epoch + 1, history)
    bar.close()
    if distributed.rank() == 0:  # rank 0 alone writes the run's files
        train_inputs = probe.inputs["train"] if probe is not None else None
        write_outputs(
            s, store, train_inputs, params, augment_params, features, features_dir, out_dir,
            stamp, history,
        )  # fmt: skip
    return history
