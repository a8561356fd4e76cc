"""The self-supervised model (docs/method.md): SimCLR's NT-Xent between two augmented views of each
clip, no labels. Its frozen encoder is scored by the evaluation head at every label fraction."""

from __future__ import annotations

from torch import Tensor, nn

from clar.heads import ProjectionHead
from clar.losses import nt_xent
from clar.objectives.base import Labels, Objective, Views


class Contrastive(Objective):
    name = "contrastive"
    title = "self-supervised + head"
    labels = Labels.NONE
    views = 2
    monitored = True

    def head(self, dim: int, n_classes: int) -> nn.Module:
        return ProjectionHead(dim)

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        # Both views through the network as one batch of 2B: batch norm sees every view.
        z1, z2 = model(views(clips, 2)).chunk(2)
        pair = self.negatives_of
        return {"loss": nt_xent(pair(z1), pair(z2), self.temperature)}
