"""FixMatch (Sohn et al. 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency
and Confidence") on the labelled fraction plus the unlabelled clips, trained once per fraction.

Each batch of ``B (1 + mu)`` clips holds ``B`` labelled ones and ``mu B`` drawn from every
training clip with their labels hidden (:meth:`FixMatch.labelled_batch`; the loop draws the two
parts apart, :func:`clar.batches.epoch_draw`). Every clip gets a weak and a strong view. The
labelled clips are classified from their weak view (cross-entropy); each unlabelled clip's weak
view gives a pseudo-label, the argmax of the model's prediction, kept where its confidence
reaches ``threshold``, and its strong view is trained towards it::

    loss = mean_B CE(weak, y)
           + lambda_u * mean_{mu B} 1[max p_weak >= tau] CE(strong, argmax p_weak)
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from clar.config.sections import Augmentation
from clar.heads import ClassifierHead
from clar.losses import masked_cross_entropy
from clar.objectives.base import Labels, Objective, Views
from clar.precision import full

# Lists from params.yaml become tuples; the names are still checked against the six.
Augmentations = Annotated[tuple[Augmentation, ...], Field(strict=False)]


class FixMatchOptions(BaseModel):
    """``loss.options.fixmatch``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    threshold: float = Field(0.95, ge=0, le=1)
    """tau: the confidence a pseudo-label needs (the paper's 0.95)."""
    lambda_u: float = Field(1.0, ge=0)
    """The weight of the pseudo-label term (the paper's 1)."""
    mu: int = Field(7, ge=1)
    """Unlabelled clips per labelled clip of a batch (the paper's 7): ``train.batch_size`` is
    the whole batch, ``B (1 + mu)``, so the cost per step is every other objective's."""
    # FixMatch's weak view is a flip and a translation: a time shift is the translation of a
    # clip (a flip has no audio counterpart that keeps the class).
    weak: Augmentations = ("time_shift",)
    """The augmentations of the weak view."""
    # The strong view stands for RandAugment + Cutout: every distortion there is, each drawn at
    # random (augment.probability), time masking the Cutout.
    strong: Augmentations = (
        "fade",
        "time_mask",
        "time_stretch",
        "pitch_shift",
        "time_shift",
        "noise",
    )
    """The augmentations of the strong view."""


def fixmatch_loss(
    weak: Tensor, strong: Tensor, labels: Tensor, threshold: float, lambda_u: float
) -> dict[str, Tensor]:
    """FixMatch's loss of one batch: ``weak``, ``strong`` ``[B, C]`` logits of the two views,
    ``labels`` ``[B]``: a class for the labelled clips, -1 for the unlabelled ones. Returns the
    total, its two terms and ``mask``, the share of the unlabelled clips whose pseudo-label was
    confident enough. No gradient flows through the pseudo-labels."""
    supervised = masked_cross_entropy(weak, labels)
    with torch.autocast(weak.device.type, enabled=False):
        confidence, pseudo = F.softmax(full(weak).detach(), dim=1).max(dim=1)
        # Weights, not boolean indexing: no host-device sync in the step.
        unlabelled = (labels < 0).to(confidence.dtype)
        count = unlabelled.sum().clamp(min=1.0)
        kept = (confidence >= threshold).to(confidence.dtype) * unlabelled
        per_clip = F.cross_entropy(full(strong), pseudo, reduction="none")
        unsupervised = (per_clip * kept).sum() / count
    return {
        "loss": supervised + lambda_u * unsupervised,
        "supervised": supervised,
        "unsupervised": unsupervised,
        "mask": kept.sum() / count,
    }


class FixMatch(Objective):
    name = "fixmatch"
    title = "FixMatch"
    labels = Labels.FRACTION_AND_UNLABELLED
    views = 2
    own_classifier = True
    # Its held-out curve (E4) beside CLAR's: pseudo-labelling's learning is slow to start (few
    # confident predictions early on), which the final number alone does not show.
    monitored = True
    compared_with = ("hybrid", "supervised")
    Options = FixMatchOptions

    def labelled_batch(self, batch: int) -> int:
        return max(1, batch // (1 + self.options.mu))

    def head(self, dim: int, n_classes: int) -> nn.Module:
        return ClassifierHead(dim, n_classes)

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        o = self.options
        inputs = torch.cat([views(clips, 1, o.weak), views(clips, 1, o.strong)])
        # Both views of every clip in one forward, as the reference code puts its views through
        # at once (batch norm sees them all); the labelled clips' strong views go unused, which
        # keeps every rank's share of the batch one shape for the gather.
        weak, strong = model(inputs).chunk(2)
        gather = self.gather
        return fixmatch_loss(gather(weak), gather(strong), gather(labels), o.threshold, o.lambda_u)
