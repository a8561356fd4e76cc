"""What one training run costs, for the planner (:mod:`clar.plan`), the bench and the GPU check:
the split sizes of a data set, the encoder's measured FLOPs per clip and the clip-views a run
puts through the encoder.

- FLOPs per clip are measured, not derived: :func:`encoder_flops` runs the encoder registered
  under that name (:func:`clar.encoders.build_encoder`) once on the meta device under
  ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products, a multiply-add
  counted as two) on what its front end takes: the waveform ``[1, T]``, or the time-frequency
  features ``[1, C, F, T']`` of the profile's clip length. Training a view costs
  :data:`BACKWARD_FACTOR` x its forward pass (the backward pass computes the gradients of the
  activations and of the weights, each about one forward); probes and evaluation are forward
  only, as are the passes that recompute the batch-norm statistics.
- The clip-views follow the training loop (:mod:`clar.train`): ``ceil(train clips / batch)``
  steps per epoch, each of ``min(batch, pool)`` clips, the pool being what the objective's own
  :meth:`~clar.objectives.base.Objective.pool` draws from; ``Objective.views`` views per clip,
  of which ``Objective.forward_only`` (a teacher's view) are counted as forward passes.
- Split sizes come from the parameters (generated sets), the published sizes of the official
  splits (:data:`OFFICIAL_SPLITS`) or, for other data, the prepared store's ``info.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from clar import layout
from clar.config import DatasetParams, FeatureParams, TrainParams
from clar.data.esc50 import held_out
from clar.data.registry import resolve_options
from clar.encoders import ENCODERS, build_encoder
from clar.encoders.base import SPECTROGRAM, Encoder
from clar.errors import ClarError
from clar.features import TimeFrequency
from clar.objectives import Objective

BACKWARD_FACTOR = 3  # training a view: its forward pass + a backward pass of about twice that

# Published sizes of the official splits as clar's loaders cut them: (train, valid, test,
# classes). Speech Commands by release and words, from its validation/testing lists (v0.01 as
# the KWS literature and the WaveGAN sc09 release count it; v0.02 all 35 words: Warden 2018),
# NSynth's train/valid/test (magenta.tensorflow.org), ESC-50 / ESC-10 400 / 80 clips per fold
# (three folds train, one validates, one tests: clar.data.esc50.held_out).
OFFICIAL_SPLITS = {
    ("speechcommands", "v0.01", "all"): (51088, 6798, 6835, 30),
    ("speechcommands", "v0.01", "digits"): (18620, 2494, 2552, 10),
    ("speechcommands", "v0.02", "all"): (84843, 9981, 11005, 35),
    ("speechcommands", "v0.02", "digits"): (31158, 3643, 4107, 10),
    ("nsynth", None): (289205, 12678, 4096, 11),
}
ESC_CLIPS_PER_FOLD = {True: 80, False: 400}  # ESC-10, ESC-50
ESC_CLASSES = {True: 10, False: 50}


@dataclass(frozen=True)
class Splits:
    """Clips per split of a data set, and its number of classes."""

    train: int
    valid: int
    test: int
    classes: int

    def labelled(self, fraction: float) -> int:
        """Labelled training clips at ``fraction`` percent, as :mod:`clar.data.store` rounds
        them (up, at least one per class), taking the classes as equally large."""
        per_class = self.train / self.classes
        return self.classes * max(1, math.ceil(per_class * fraction / 100 - 1e-9))


@dataclass(frozen=True)
class RunPlan:
    """One training run: what it processes and what one clip-view of it costs."""

    stage: str
    input: str
    objective: str
    training_views: int  # views trained: forward and backward
    forward_views: int  # views of the training that run forward only (a teacher's)
    probe_clips: int
    evaluation_clips: int
    flops_per_view: int  # the encoder's forward pass on one clip

    @property
    def clip_views(self) -> int:
        return self.training_views + self.forward_views + self.probe_clips + self.evaluation_clips

    @property
    def forward_flops(self) -> float:
        return float(self.flops_per_view) * self.clip_views

    @property
    def flops(self) -> float:
        """Training (forward + backward) of every training view, forward of the others."""
        others = self.forward_views + self.probe_clips + self.evaluation_clips
        return float(self.flops_per_view) * (BACKWARD_FACTOR * self.training_views + others)


def encoder_flops(
    input: str, width: float, samples: int, sample_rate: int, features: FeatureParams
) -> int:
    """Forward FLOPs of the encoder registered as ``input`` on one clip of ``samples`` samples
    (``features`` shape the input of an encoder on the spectrogram), counted on the meta
    device: no memory, no arithmetic."""
    return _flops(ENCODERS.get(input), width, samples, sample_rate, features)


@cache  # by class, not name: a plug-in registered anew under a known name is measured anew
def _flops(
    cls: type[Encoder], width: float, samples: int, sample_rate: int, features: FeatureParams
) -> int:
    channels, shape = 1, (1, samples)
    if cls.front_end == SPECTROGRAM:
        frames = TimeFrequency.from_params(sample_rate, features).frames(samples)
        channels = len(features.channels)
        shape = (1, channels, features.n_bins, frames)
    with torch.device("meta"):
        encoder, clip = build_encoder(cls.name, width, channels), torch.empty(shape)
    # Eval mode: batch norm of one clip whose last feature map is 1 x 1 has no batch statistics.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder.eval()(clip)
    return counter.get_total_flops()


def split_sizes(dataset: DatasetParams, valid_fraction: float) -> Splits:
    """The clips per split a data set will have once prepared."""
    options = dataset.options
    if dataset.kind == "embedded":
        from clar.data.embedded import classes

        counts = dict(options.get("clips_per_class", {}))
        n = len(classes(str(options.get("generator"))))
        train, valid = counts.get("train", 0), counts.get("valid")
        if valid is None:  # carved from train at prepare time, per class
            valid = max(1, round(train * valid_fraction)) if train >= 2 else 0
            train -= valid
        return Splits(n * train, n * valid, n * counts.get("test", 0), n)
    # The loader's own defaults for what the parameters leave out (version, words, folds).
    resolved = resolve_options(dataset.name, dataset.kind, options)
    if dataset.kind == "speechcommands":
        release = resolved["version"], resolved["words"]
        return Splits(*OFFICIAL_SPLITS["speechcommands", *release])
    if dataset.kind == "nsynth":
        cap = resolved["max_per_split"]
        train, valid, test, n = OFFICIAL_SPLITS["nsynth", None]
        if cap is None:
            return Splits(train, valid, test, n)
        return Splits(min(train, cap), min(valid, cap), min(test, cap), n)
    if dataset.kind == "esc50":
        esc10 = bool(resolved["esc10"])
        folds = resolved["folds"] or held_out(resolved["test_fold"])
        per_fold = ESC_CLIPS_PER_FOLD[esc10]
        size = {split: per_fold * len(folds.get(split, ())) for split in ("train", "valid", "test")}
        return Splits(size["train"], size["valid"], size["test"], ESC_CLASSES[esc10])
    info = layout.prepared(dataset.name) / layout.INFO_FILE
    if not info.exists():
        raise ClarError(
            f"data set '{dataset.name}' ({dataset.kind}): its split sizes are known once it is "
            f"prepared; run `dvc repro prepare@{dataset.name}` first"
        )
    prepared = json.loads(info.read_text())
    clips = prepared["clips"]
    return Splits(clips["train"], clips["valid"], clips["test"], len(prepared["classes"]))


def heldout_probes(epochs: int, every: int) -> int:
    """How many times training probes held-out accuracy: every ``every`` epochs and at the end."""
    return epochs // every + (epochs % every != 0 and epochs > 0)


@cache
def pool_size(objective: type[Objective], train: int, labelled: int) -> int:
    """The clips a run's batches are drawn from, asked of the objective as training asks it
    (:func:`clar.train.set_up`): its own ``pool`` of a mask of ``train`` clips, ``labelled``
    of them labelled."""
    return len(objective().pool(torch.arange(train) < labelled))


def step_views(objective: type[Objective], clips: int) -> tuple[int, int]:
    """(trained views, forward-only views) of ``clips`` clips through ``objective``'s
    training steps."""
    return clips * (objective.views - objective.forward_only), clips * objective.forward_only


def run_views(
    splits: Splits,
    train: TrainParams,
    objective: type[Objective],
    fraction: float,
    monitor: bool,
) -> tuple[int, int, int, int]:
    """(training views, forward-only training views, held-out probe clips, evaluation clips)
    of one run.

    ``train`` holds the data set's own epochs and batch size; ``fraction`` is the run's label
    fraction (100 for label-free runs) and ``monitor`` whether it logs the held-out probe.
    """
    pool = pool_size(objective, splits.train, splits.labelled(fraction))
    steps = max(1, math.ceil(splits.train / train.batch_size))
    trained, forward_only = step_views(
        objective, train.epochs * steps * min(train.batch_size, pool)
    )
    probes = heldout_probes(train.epochs, train.eval_every) if monitor else 0
    # Each probe, and the saved model, first recompute the batch-norm statistics over the pool
    # (clar.batchnorm: one forward pass). Evaluation embeds the three splits once; every
    # fraction's head, and the model's own classifier, start from those embeddings.
    scored = pool + splits.train + splits.valid + splits.test
    return trained, forward_only, probes * (pool + splits.train + splits.valid), scored
