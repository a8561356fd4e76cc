"""One training loop for PAPER.md's three objectives: supervised, contrastive, and CLAR's hybrid.

Read it top to bottom: the loss of one batch, the batches of an epoch, then :func:`train`. The
clips go to the device once; augmentation and (for spectrogram input) the features run there,
batched, inside the loop. Every objective gets the same number of optimisation steps per epoch
(one pass over all training clips): the supervised model cycles through its labelled subset,
so a low label fraction does not also mean fewer updates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from clar import runs, sources
from clar.augment.transforms import augment
from clar.config import AugmentParams, FeatureParams, TrainParams
from clar.data.store import Store
from clar.errors import ClarError
from clar.losses import hybrid_loss, nt_xent
from clar.models import Model, build_model
from clar.optim import build_optimizer, warmup_cosine
from clar.probe import encoder_inputs, probe_accuracy
from clar.runs import Run
from clar.vocabulary import CONTRASTIVE, HYBRID, SUPERVISED


def batch_loss(
    model: Model,
    objective: str,
    clips: Tensor,
    labels: Tensor,
    views: Callable[[Tensor], Tensor],
    temperature: float,
) -> dict[str, Tensor]:
    """The objective's loss on one batch of clips ``[B, T]`` with labels ``[B]`` (-1: none).

    ``views`` draws one augmented view of a batch. Contrastive objectives put both views through
    the network as one batch of 2B, so batch norm sees the statistics of every view.
    """
    if objective == SUPERVISED:
        return {"loss": F.cross_entropy(model(views(clips)).float(), labels)}
    both = model(torch.cat([views(clips), views(clips)]))
    if objective == CONTRASTIVE:
        z1, z2 = both.chunk(2)
        return {"loss": nt_xent(z1, z2, temperature)}
    z, logits = both
    (z1, z2), (l1, l2) = z.chunk(2), logits.chunk(2)
    parts = hybrid_loss(z1, z2, l1, l2, labels, temperature)
    return {"loss": parts.total, "contrastive": parts.contrastive, "supervised": parts.supervised}


def epoch_batches(pool: Tensor, steps: int, batch: int, generator: torch.Generator) -> Tensor:
    """``[steps, batch]`` indices drawn from successive shuffles of ``pool``.

    Within a shuffle no index repeats; a pool smaller than an epoch is cycled.
    """
    need = steps * batch
    rounds = math.ceil(need / len(pool))
    order = torch.cat(
        [
            pool[torch.randperm(len(pool), generator=generator, device=generator.device)]
            for _ in range(rounds)
        ]
    )
    return order[:need].view(steps, batch)


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
) -> list[dict]:
    """Train one run; write ``model.pt``, ``run.json`` and ``history.tsv`` into ``out_dir``.

    A checkpoint is kept in ``checkpoint_dir`` every ``params.checkpoint_every`` epochs; a run
    started again with the same inputs resumes from it and ends with the same numbers as an
    uninterrupted run. ``features_dir`` (the features stage's output) spares the held-out probe
    of a spectrogram run from computing the un-augmented features again. Returns the per-epoch
    history.
    """
    device = pick_device(params.device)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(run.seed)
    generator = torch.Generator(device=device).manual_seed(run.seed)

    clips = store.waveforms("train", device)
    labels = store.labels("train").to(device)
    labelled = store.labelled(run.fraction).to(device)
    if run.objective == SUPERVISED:
        pool = labelled.nonzero().squeeze(1)
    else:
        pool = torch.arange(len(clips), device=device)
        if run.objective == HYBRID:
            labels = torch.where(labelled, labels, -1)
    batch = min(params.batch_size, len(pool))
    steps = max(1, math.ceil(len(clips) / params.batch_size))
    if batch < 2:
        raise ClarError(f"run {run}: {len(pool)} training clip(s) available; batch norm needs 2")

    model = build_model(
        run.input, run.objective, len(store.classes), params.width, store.sample_rate, features
    ).to(device)
    optimizer = build_optimizer(model, params.lr, params.weight_decay, params.lars)
    schedule = warmup_cosine(optimizer, params.warmup_epochs, params.epochs, steps)

    def views(x: Tensor) -> Tensor:
        return augment(x, run.augmentations, generator, augment_params)

    # Monitoring only (the E4 curve), every eval_every epochs: a ridge probe on the un-augmented
    # splits, resolved once here (the training clips are already on the device).
    probe_inputs = {
        "train": encoder_inputs(model, store, "train", features_dir, features, device, clips),
        "valid": encoder_inputs(model, store, "valid", features_dir, features, device),
    }
    probe_labels = {split: store.labels(split).to(device) for split in probe_inputs}

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    # The code is part of what a checkpoint's numbers depend on (clar.sources).
    stamp = runs.fingerprint(
        run, params, augment_params, features, store.info, sources.digest(__name__)
    )
    history: list[dict] = []
    start = 0
    state = runs.load_checkpoint(checkpoint_dir, stamp)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        history, start = state["history"], state["epoch"]

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    bar = tqdm(
        total=params.epochs * steps * batch,
        initial=start * steps * batch,
        unit="clip",
        unit_scale=True,
        desc=f"train {run.dataset} {run.input} {run.objective}",
        disable=not progress,
    )
    for epoch in range(start, params.epochs):
        began = time.perf_counter()
        model.train()
        sums: dict[str, float] = {}
        for index in epoch_batches(pool, steps, batch, generator):
            with autocast:
                losses = batch_loss(
                    model, run.objective, clips[index], labels[index], views, params.temperature
                )
            loss = losses["loss"]
            if not torch.isfinite(loss):
                raise ClarError(
                    f"run {run.dataset}/{run.input}/{run.objective}: the loss became "
                    f"{loss.item()} at epoch {epoch + 1}; lower train.lr "
                    f"(now {params.lr:g}) or check the data"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value.item()
            bar.update(batch)
        seconds = time.perf_counter() - began
        row = {
            "epoch": epoch + 1,
            **{k: v / steps for k, v in sums.items()},
            "lr": schedule.get_last_lr()[0],
            "seconds": seconds,
            "clips_per_second": steps * batch / seconds,
        }
        last = epoch + 1 == params.epochs
        if (epoch + 1) % params.eval_every == 0 or last:
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
            runs.save_checkpoint(
                checkpoint_dir,
                {
                    "fingerprint": stamp,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "generator": generator.get_state(),
                    "history": history,
                },
            )
    bar.close()

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
        },
    )
    runs.write_history(out_dir, history)
    return history
