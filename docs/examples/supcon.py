"""Supervised contrastive learning (Khosla et al. 2020, "Supervised Contrastive Learning"),
as a plug-in objective: the example docs/extending.md walks through.

Every view of a clip is an anchor. Its positives are the other views of its class in the
(global) batch; a clip outside the run's label fraction (label -1) has one positive, its own
other view, as in SimCLR. Its negatives are all other views. With no clip labelled the loss is
NT-Xent (``clar.losses.nt_xent``), the paper's self-supervised objective.

Name it in params.yaml (or with ``dvc exp run -S``)::

    plugins:
      objectives: [plugins/supcon.py:SupCon]
    loss:
      fraction_trained: [supervised, hybrid, supcon]
      options:
        supcon: {base_temperature: 0.07}
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from clar.heads import ProjectionHead
from clar.objectives.base import Labels, Objective, Views
from clar.precision import full


def supcon_loss(
    z1: Tensor,
    z2: Tensor,
    labels: Tensor,
    temperature: float,
    base_temperature: float | None = None,
) -> Tensor:
    """SupCon's L_out over the 2N views of a batch, mean over the 2N anchors.

    Args:
        z1, z2: ``[N, D]``, the two views of the same N clips (row i of each is clip i);
            L2-normalised here.
        labels: ``[N]`` int, -1 for a clip without a label.
        temperature: divides the cosine similarities.
        base_temperature: the loss is scaled by ``temperature / base_temperature`` (the
            reference code's, there 0.07); None: by 1.

    Returns:
        A scalar in full precision (:func:`clar.precision.full`). Anchor i's loss is
        ``-mean_{p in P(i)} log(exp(s_ip) / sum_{a != i} exp(s_ia))``, with
        ``s_ia = z_i . z_a / temperature`` and ``P(i)`` its positives.
    """
    n = z1.shape[0]
    # In full precision (clar.precision) with autocast off: in bf16 every similarity would
    # be rounded to about 1 % before the exponential.
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z = F.normalize(full(torch.cat([z1, z2])), dim=1)
        sim = z @ z.T / temperature
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        # -inf: exp(-inf) is exactly 0, so an anchor is never its own negative.
        log_prob = sim.masked_fill(self_mask, float("-inf")).log_softmax(dim=1)
        # A clip's other view is always a positive; an unlabelled clip has no other.
        clip = torch.arange(n, device=z.device).repeat(2)
        y = labels.repeat(2)
        same_class = (y[:, None] == y[None, :]) & (y[:, None] >= 0)
        positives = (same_class | (clip[:, None] == clip[None, :])) & ~self_mask
        # masked_fill, not a product: log_prob is -inf on the diagonal and 0 * -inf is NaN.
        summed = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
        per_anchor = -summed / positives.sum(dim=1)
        scale = 1.0 if base_temperature is None else temperature / base_temperature
        return scale * per_anchor.mean()


class SupConOptions(BaseModel):
    """``loss.options.supcon``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # None keeps the loss NT-Xent's at 0 % labels; the reference code's 0.07 scales it by
    # train.temperature / 0.07 (a larger step for SGD, nearly none for Adam).
    base_temperature: float | None = None


class SupCon(Objective):
    name = "supcon"
    title = "SupCon"
    # FRACTION_AND_UNLABELLED, not FRACTION: the clips outside the fraction still train, as
    # SimCLR pairs, so that at every fraction SupCon sees the same clips as CLAR's hybrid and
    # differs from it only in how the labels enter the loss.
    labels = Labels.FRACTION_AND_UNLABELLED
    views = 2
    # Paired against the supervised baseline and CLAR at each label fraction (E3).
    compared_with = ("supervised", "hybrid")
    Options = SupConOptions

    def head(self, dim: int, n_classes: int) -> nn.Module:
        return ProjectionHead(dim)

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        # Both views in one batch of 2B, so that batch norm sees every view.
        z1, z2 = model(views(clips, 2)).chunk(2)
        # Labels travel with the views: the global batch's, or the rank's own with
        # train.negatives = per_rank.
        pair = self.negatives_of
        loss = supcon_loss(
            pair(z1), pair(z2), pair(labels), self.temperature, self.options.base_temperature
        )
        return {"loss": loss}
