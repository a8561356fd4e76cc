"""One training loop for PAPER.md's three objectives: supervised, contrastive, and CLAR's hybrid.

Read it top to bottom: the loss of one batch, the batches of an epoch, then :func:`train`. The
clips go to the device once; augmentation and (for spectrogram input) the features run there,
batched, inside the loop. Every objective gets the same number of optimisation steps per epoch
(one pass over all training clips): the supervised model cycles through its labelled subset,
so a low label fraction does not also mean fewer updates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clar import batchnorm, distributed, runs, sources
from clar.augment.transforms import augment
from clar.config import AugmentParams, FeatureParams, TrainParams
from clar.data.clips import Clips
from clar.data.store import Store
from clar.errors import ClarError
from clar.losses import hybrid_loss, nt_xent
from clar.models import Model, build_model
from clar.optim import build_optimizer, warmup_cosine
from clar.precision import full
from clar.probe import encoder_inputs, probe_accuracy, recompute_batch_norm
from clar.progress import progress_bar
from clar.runs import Run
from clar.vocabulary import CONTRASTIVE, HYBRID, SUPERVISED


def batch_loss(
    model: Model,
    objective: str,
    clips: Tensor,
    labels: Tensor,
    views: Callable[[Tensor, int], Tensor],
    temperature: float,
    negatives: str = "global",
) -> dict[str, Tensor]:
    """The objective's loss on one batch of clips ``[B, T]`` with labels ``[B]`` (-1: none).

    ``views(clips, n)`` draws n augmented views of each clip, ``[n * B, T]`` view by view
    (:func:`clar.augment.transforms.augment`). Contrastive objectives put both views through the
    network as one batch of 2B, so batch norm sees the statistics of every view.

    Under data parallelism each rank holds its share of the global batch, and every rank
    computes the loss of the global batch: outputs and labels are gathered from all ranks
    (:func:`clar.distributed.gather`, gradients kept) before the loss sees them. ``negatives``
    ``"per_rank"`` keeps NT-Xent to the rank's own views (the official code's per-GPU negatives);
    the supervised part is always over the global batch.
    """
    labels = distributed.gather(labels)
    if objective == SUPERVISED:
        logits = full(distributed.gather(model(views(clips, 1))))
        return {"loss": F.cross_entropy(logits, labels)}
    both = model(views(clips, 2))
    pair = distributed.gather if negatives == "global" else (lambda z: z)
    if objective == CONTRASTIVE:
        z1, z2 = both.chunk(2)
        return {"loss": nt_xent(pair(z1), pair(z2), temperature)}
    z, logits = both
    (z1, z2), (l1, l2) = z.chunk(2), logits.chunk(2)
    gather = distributed.gather
    parts = hybrid_loss(pair(z1), pair(z2), gather(l1), gather(l2), labels, temperature)
    return {"loss": parts.total, "contrastive": parts.contrastive, "supervised": parts.supervised}


def epoch_batches(pool: Tensor, steps: int, batch: int, generator: torch.Generator) -> Tensor:
    """``[steps, batch]`` indices of ``pool``, every row from within one shuffle of it.

    Shuffles are drawn in turn and each is cut into whole batches; its last
    ``len(pool) % batch`` indices are left out, so that no batch straddles two shuffles and holds
    a clip twice (the clip would be its own negative). A pool smaller than an epoch is cycled by
    whole shuffles. ``batch`` is at most ``len(pool)``.
    """
    if not 0 < batch <= len(pool):
        raise ValueError(f"a batch of {batch} from a pool of {len(pool)}")
    per_shuffle = len(pool) // batch
    shuffles = [
        pool[torch.randperm(len(pool), generator=generator, device=generator.device)]
        for _ in range(math.ceil(steps / per_shuffle))
    ]
    rows = torch.cat([s[: per_shuffle * batch].view(per_shuffle, batch) for s in shuffles])
    return rows[:steps]


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
) -> list[dict]:
    """Train one run; write ``model.pt``, ``run.json`` and ``history.tsv`` into ``out_dir``.

    A checkpoint is kept in ``checkpoint_dir`` every ``params.checkpoint_every`` epochs; a run
    started again with the same inputs resumes from it and ends with the same numbers as an
    uninterrupted run. ``features_dir`` (the features stage's output) spares the held-out probe
    of a spectrogram run from computing the un-augmented features again. ``monitor`` logs the
    held-out probe every ``params.eval_every`` epochs (an E4 curve); without it no probe runs.
    ``desc`` names the run on its progress bar. Returns the per-epoch history.
    """
    device = pick_device(params.device)
    if distributed.rank() == 0:
        runs.check_writable(checkpoint_dir, out_dir)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(run.seed)
    # Each rank draws its own augmentations; rank 0 draws what a one-process run draws.
    generator = torch.Generator(device=device).manual_seed(distributed.rank_seed(run.seed))
    # Rank 0 alone probes; the others go on and wait for it in the next collective.
    monitor = monitor and distributed.rank() == 0

    clips = Clips(store.array("train"), device, params.device_clips_bytes)
    labels = store.labels("train").to(device)
    labelled = store.labelled(run.fraction).to(device)
    if run.objective == SUPERVISED:
        pool = labelled.nonzero().squeeze(1)
    else:
        pool = torch.arange(len(clips), device=device)
        if run.objective == HYBRID:
            labels = torch.where(labelled, labels, -1)
    # The global batch: split evenly over the ranks when data-parallel (clar.distributed).
    batch = min(params.batch_size, len(pool) // distributed.world() * distributed.world())
    steps = max(1, math.ceil(len(clips) / params.batch_size))
    if batch < 2:
        raise ClarError(f"run {run}: {len(pool)} training clip(s) available; batch norm needs 2")

    model = build_model(
        run.input, run.objective, len(store.classes), params.width, store.sample_rate, features
    ).to(device)
    optimizer = build_optimizer(model, params.lr, params.weight_decay, params.lars)
    schedule = warmup_cosine(optimizer, params.warmup_epochs, params.epochs, steps)
    # Checkpoints, the probe and the saved weights use ``model``, whose parameters ``net``
    # shares (a wrapper's own state dict would prefix every key).
    net = training_network(model, device, params.compile)

    def views(x: Tensor, count: int) -> Tensor:
        return augment(x, run.augmentations, generator, augment_params, count)

    # Monitoring only (the E4 curve), every eval_every epochs: a ridge probe on the un-augmented
    # splits, resolved once here (the training clips are already on the device).
    probe_inputs = (
        {
            "train": encoder_inputs(model, store, "train", features_dir, features, device, clips),
            "valid": encoder_inputs(
                model,
                store,
                "valid",
                features_dir,
                features,
                device,
                budget_bytes=params.device_clips_bytes,
            ),
        }
        if monitor
        else {}
    )
    probe_labels = {split: store.labels(split).to(device) for split in probe_inputs}

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    # What a checkpoint's numbers depend on: the code (clar.sources), the parameters, and the
    # clips themselves (Store.content), not only their names and counts.
    inputs = runs.checkpoint_inputs(
        code=sources.digest(__name__),
        parameters=(run, params, augment_params, features),
        data=(store.info, store.content),
    )
    stamp = runs.fingerprint(inputs)
    why = {"code": "code (clar/)", "data": f"clips ({store.folder} changed)"}
    history: list[dict] = []
    start = 0
    state = runs.load_checkpoint(checkpoint_dir, stamp, inputs, why)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generators"][distributed.rank()])
        history, start = state["history"], state["epoch"]

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    bar = progress_bar(
        total=params.epochs * steps * batch,
        initial=start * steps * batch,
        unit="clip",
        unit_scale=True,
        desc=desc or f"train {run.dataset} {run.input} {run.objective}",
        disable=not progress or distributed.rank() > 0,
    )
    for epoch in range(start, params.epochs):
        net.train()
        per_step = []
        batches = distributed.shard(epoch_batches(pool, steps, batch, generator))
        for index, waveforms in zip(batches, clips.batches(batches), strict=True):
            with autocast:
                losses = batch_loss(
                    net,
                    run.objective,
                    waveforms,
                    labels[index],
                    views,
                    params.temperature,
                    params.negatives,
                )
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            schedule.step()
            per_step.append(torch.stack([value.detach() for value in losses.values()]))
            bar.update(batch)
        # One host sync per epoch, not one per step: [steps, parts], the mean over ranks (what
        # one process logs, and one verdict for every rank).
        logged = distributed.mean(torch.stack(per_step)).cpu()
        finite = torch.isfinite(logged[:, 0])
        if not finite.all():
            step = int((~finite).nonzero()[0])
            raise ClarError(
                f"run {run.dataset}/{run.input}/{run.objective} seed {run.seed}: the loss became "
                f"{logged[step, 0].item()} at epoch {epoch + 1}, step {step + 1} of {steps}; "
                f"lower train.lr (now {params.lr:g}) or check the data"
            )
        row = {
            "epoch": epoch + 1,
            **dict(zip(losses, logged.mean(0).tolist(), strict=True)),
            "lr": schedule.get_last_lr()[0],
        }
        last = epoch + 1 == params.epochs
        if monitor and ((epoch + 1) % params.eval_every == 0 or last):
            # Probed as the finished model is scored, with statistics for these weights; the
            # training goes on with its own running averages.
            with batchnorm.kept(model):
                recompute_batch_norm(
                    model, probe_inputs["train"], pool, params.batch_size, device, run.seed
                )
                row["heldout_accuracy"] = probe_accuracy(
                    model, probe_inputs, probe_labels, len(store.classes), params.batch_size, device
                )
        history.append(row)
        # The latest held-out accuracy, so the bar never shows a blank between probes.
        probed = [r["heldout_accuracy"] for r in history if "heldout_accuracy" in r]
        bar.set_postfix(
            epoch=epoch + 1,
            loss=f"{row['loss']:.3f}",
            **({"heldout": f"{probed[-1]:.2f}"} if probed else {}),
        )
        if (epoch + 1) % params.checkpoint_every == 0 or last:
            # Every rank's generator, so that a resumed job draws on as the uninterrupted one.
            generators = distributed.gather_objects(generator.get_state())
            if distributed.rank() == 0:
                runs.save_checkpoint(
                    checkpoint_dir,
                    {
                        "fingerprint": stamp,
                        "inputs": inputs,
                        "epoch": epoch + 1,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(),
                        "generators": generators,
                        "history": history,
                    },
                )
    bar.close()
    if distributed.rank() > 0:
        return history  # rank 0 alone writes the run's files

    # The saved model's batch-norm statistics are those of its final weights on the clips it
    # trained on, un-augmented as every split is scored (clar.batchnorm); the checkpoint keeps
    # the training's own, so that a resumed run trains on as an uninterrupted one.
    train_inputs = probe_inputs.get("train") or encoder_inputs(
        model, store, "train", features_dir, features, device, clips
    )
    statistics_clips = recompute_batch_norm(
        model, train_inputs, pool, params.batch_size, device, run.seed
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    runs.save(model.state_dict(), out_dir / runs.MODEL_FILE)
    runs.write_run_info(
        out_dir,
        {
            "run": asdict(run),
            "classes": store.classes,
            "sample_rate": store.sample_rate,
            "train": params.model_dump(mode="json"),
            "augment": augment_params.model_dump(mode="json"),
            "features": features.model_dump(mode="json"),
            "device": str(device),
            "fingerprint": stamp,
            # What each step really used: the global batch is the pool's size where that is
            # smaller than train.batch_size (a supervised run at a low label fraction).
            "effective": {
                "batch_size": batch,
                "lr": params.lr,
                "epochs": params.epochs,
                "steps_per_epoch": steps,
                "warmup_epochs": params.warmup_epochs,
                "weight_decay": params.weight_decay,
                "lars": params.lars,
            },
            "batch_norm_statistics": {"recomputed_over_clips": statistics_clips},
        },
    )
    runs.write_history(out_dir, history)
    return history
