"""Losses of CLAR (docs/method.md).

All losses compute in float32 whatever the input dtype, so they are safe under bf16 autocast,
and return a scalar tensor.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from clar.precision import full


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """SimCLR's NT-Xent over the 2N views of a batch, mean over the 2N anchors.

    ``z1``, ``z2``: ``[N, D]``, the two views of the same N items (row i of ``z1`` and row i of
    ``z2`` are a positive pair). Rows are L2-normalised inside (a no-op for the output of
    :class:`clar.models.ProjectionHead`), so the similarity is the cosine. With
    ``z = cat(z1, z2)`` (``[2N, D]``) and ``s_ik = z_i . z_k / temperature``, anchor i's loss is
    ``-log(exp(s_i,pos(i)) / sum_{k != i} exp(s_ik))``.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"nt_xent expects two [N, D] views, got {tuple(z1.shape)}, {tuple(z2.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n = z1.shape[0]
    # Autocast would run the matmul in bf16 even on float32 operands: switch it off here.
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z = F.normalize(full(torch.cat([z1, z2])), dim=1)
        sim = z @ z.T / temperature
        # -inf, not a large negative constant: exp(-inf) = 0 exactly and cannot overflow.
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        sim = sim.masked_fill(self_mask, float("-inf"))
        idx = torch.arange(n, device=z.device)
        positives = torch.cat([idx + n, idx])
        return F.cross_entropy(sim, positives)


def masked_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over the labelled items only.

    ``logits``: ``[B, C]``; ``labels``: ``[B]`` int, a negative label (-1) marks an unlabelled
    item. Returns 0 when no item is labelled, as a tensor still attached to ``logits``' graph
    (so ``backward`` works and gives zero gradients). Branch-free: no host-device sync.
    """
    labelled = labels >= 0
    with torch.autocast(device_type=logits.device.type, enabled=False):
        per_item = F.cross_entropy(full(logits), labels.clamp(min=0), reduction="none")
        weights = labelled.to(per_item.dtype)
        return (per_item * weights).sum() / weights.sum().clamp(min=1.0)


class HybridLoss(NamedTuple):
    """The CLAR loss and its parts (scalars): ``total = contrastive + supervised``."""

    total: Tensor
    contrastive: Tensor
    supervised: Tensor


def hybrid_loss(
    z1: Tensor,
    z2: Tensor,
    logits1: Tensor,
    logits2: Tensor,
    labels: Tensor,
    temperature: float = 0.5,
) -> HybridLoss:
    """CLAR's loss: ``NT-Xent(z1, z2) + CE(logits1, y) + CE(logits2, y)``, CE on labelled items.

    ``z1``, ``z2``: ``[N, D]`` projections of the two views; ``logits1``, ``logits2``: ``[M, C]``;
    ``labels``: ``[M]``, -1 for unlabelled items. ``M`` is ``N`` but for data-parallel training
    with per-rank negatives, where the projections are one rank's and the logits the global
    batch's (:meth:`clar.objectives.hybrid.Hybrid.loss`). Use ``.total`` for backward, the
    parts to log.
    """
    contrastive = nt_xent(z1, z2, temperature)
    supervised = masked_cross_entropy(logits1, labels) + masked_cross_entropy(logits2, labels)
    return HybridLoss(contrastive + supervised, contrastive, supervised)
