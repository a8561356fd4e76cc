"""The supervised baseline (docs/method.md): cross-entropy on one augmented view of each
labelled clip."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from clar.heads import ClassifierHead
from clar.objectives.base import Labels, Objective, Views
from clar.precision import full


class Supervised(Objective):
    name = "supervised"
    title = "supervised"
    labels = Labels.FRACTION
    views = 1
    own_classifier = True

    def head(self, dim: int, n_classes: int) -> nn.Module:
        return ClassifierHead(dim, n_classes)

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        logits = full(self.gather(model(views(clips, 1))))
        return {"loss": F.cross_entropy(logits, self.gather(labels))}
