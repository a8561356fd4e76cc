"""FixMatch (Sohn et al. 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency
and Confidence") on the labelled fraction plus the unlabelled clips, trained once per fraction.

Each clip of a batch gets a weak and a strong view. The labelled ones are classified from their
weak view (cross-entropy); every clip's weak view gives a pseudo-label, the argmax of the
model's prediction, kept where its confidence reaches ``threshold``, and the strong view is
trained towards it::

    loss = CE(weak, y | labelled)
           + lambda_u * mean_b 1[max p_weak >= tau] CE(strong, argmax p_weak)

The second mean runs over every clip of the batch, labelled ones included, as FixMatch's
unlabelled set includes the labelled examples. The loop draws one batch from all training
clips, so the unlabelled-to-labelled ratio (FixMatch's mu, 7) is the data's own: ``1 / f`` at
label fraction ``f`` (10 at 10 %), not a separate draw of mu batches per labelled one.
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
    ``labels`` ``[B]`` (-1: none). Returns the total, its two terms and ``mask``, the share of
    the batch whose pseudo-label was confident enough. No gradient flows through the
    pseudo-labels."""
    supervised = masked_cross_entropy(weak, labels)
    with torch.autocast(weak.device.type, enabled=False):
        confidence, pseudo = F.softmax(full(weak).detach(), dim=1).max(dim=1)
        mask = (confidence >= threshold).to(confidence.dtype)
        per_clip = F.cross_entropy(full(strong), pseudo, reduction="none")
        unsupervised = (per_clip * mask).mean()
    return {
        "loss": supervised + lambda_u * unsupervised,
        "supervised": supervised,
        "unsupervised": unsupervised,
        "mask": mask.mean(),
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

    def head(self, dim: int, n_classes: int) -> nn.Module:
        return ClassifierHead(dim, n_classes)

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        o = self.options
        inputs = torch.cat([views(clips, 1, o.weak), views(clips, 1, o.strong)])
        # Both views in one forward, as the reference code does: batch norm sees every view.
        weak, strong = model(inputs).chunk(2)
        gather = self.gather
        return fixmatch_loss(gather(weak), gather(strong), gather(labels), o.threshold, o.lambda_u)
