"""CLAR's hybrid objective (docs/method.md): NT-Xent between two views of every clip plus
cross-entropy on both views of the labelled ones, trained once per label fraction."""

from __future__ import annotations

from torch import Tensor, nn

from clar.heads import HybridHead
from clar.losses import hybrid_loss
from clar.objectives.base import Labels, Objective, Views


class Hybrid(Objective):
    name = "hybrid"
    title = "CLAR (hybrid)"
    labels = Labels.FRACTION_AND_UNLABELLED
    views = 2
    own_classifier = True
    monitored = True
    compared_with = ("supervised", "contrastive")

    def head(self, dim: int, n_classes: int) -> nn.Module:
        return HybridHead(dim, n_classes)

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        labels = self.gather(labels)
        z, logits = model(views(clips, 2))
        (z1, z2), (l1, l2) = z.chunk(2), logits.chunk(2)
        pair, gather = self.negatives_of, self.gather
        parts = hybrid_loss(pair(z1), pair(z2), gather(l1), gather(l2), labels, self.temperature)
        return {
            "loss": parts.total,
            "contrastive": parts.contrastive,
            "supervised": parts.supervised,
        }
