"""The held-out monitor of a training run: the E4 convergence curve.

Every ``train.eval_every`` epochs of a run whose objective is ``monitored``, a ridge probe on
the frozen encoder's un-augmented embeddings scores the validation split; the loop logs it as
``heldout_accuracy``. It is monitoring only: the reported scores come from the evaluation head
(:mod:`clar.probe`) on the finished model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from clar import batchnorm
from clar.config import FeatureParams, TrainParams
from clar.data.clips import Clips
from clar.data.store import Store
from clar.models import Model
from clar.probe import encoder_inputs, probe_accuracy, recompute_batch_norm


class HeldOutMonitor:
    """The probe's inputs, resolved once (the training clips are already on the device)."""

    def __init__(
        self,
        model: Model,
        clips: Clips,
        store: Store,
        features_dir: Path | None,
        features: FeatureParams,
        params: TrainParams,
        device: torch.device,
    ) -> None:
        self.inputs = {
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
        self.labels = {split: store.labels(split).to(device) for split in self.inputs}
        self.n_classes = len(store.classes)
        self.batch_size = params.batch_size
        self.device = device

    def __call__(self, model: Model, pool: Tensor, seed: int) -> float:
        """The held-out accuracy of ``model`` now, probed as the finished model is scored: with
        batch-norm statistics for these weights over the training ``pool``; the training goes
        on with its own running averages."""
        with batchnorm.kept(model):
            recompute_batch_norm(
                model, self.inputs["train"], pool, self.batch_size, self.device, seed
            )
            return probe_accuracy(
                model, self.inputs, self.labels, self.n_classes, self.batch_size, self.device
            )
