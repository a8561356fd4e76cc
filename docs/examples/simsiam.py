"""SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning") as a plug-in
objective: two views, a predictor on one branch, a stop-gradient on the other, no negatives
and no labels.

``loss = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2``, ``D`` the negative cosine
similarity, ``z`` the projections and ``p`` the predictor's outputs.

Name it in params.yaml::

    plugins:
      objectives: [plugins/simsiam.py:SimSiam]
    loss:
      label_free: [contrastive, simsiam]
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from clar.objectives.base import Labels, Objective, Views
from clar.precision import full


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """SimSiam's ``D``: ``p``, ``z`` ``[N, D]`` -> the mean over rows of ``-cos(p_i, z_i)``,
    the gradient stopped at ``z``."""
    return -F.cosine_similarity(full(p), full(z).detach(), dim=1).mean()


def simsiam_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
    """The symmetric loss of two views ``[N, D]`` each: in [-1, 1], -1 when each prediction
    points along the other view's projection."""
    return negative_cosine(p1, z2) / 2 + negative_cosine(p2, z1) / 2


class SimSiamHead(nn.Module):
    """Projection (3 layers, BN on every output) and a bottleneck predictor, as in the paper at
    a smaller size: ``[B, in_dim] -> (z [B, dim], p [B, dim])``."""

    def __init__(self, in_dim: int, dim: int = 256, bottleneck: int = 64) -> None:
        super().__init__()
        self.projector = nn.Sequential(
            nn.Linear(in_dim, dim, bias=False),
            nn.BatchNorm1d(dim),
            nn.ReLU(inplace=True),
            nn.Linear(dim, dim, bias=False),
            nn.BatchNorm1d(dim),
            nn.ReLU(inplace=True),
            nn.Linear(dim, dim, bias=False),
            nn.BatchNorm1d(dim, affine=False),
        )
        self.predictor = nn.Sequential(
            nn.Linear(dim, bottleneck, bias=False),
            nn.BatchNorm1d(bottleneck),
            nn.ReLU(inplace=True),
            nn.Linear(bottleneck, dim),
        )

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        z = self.projector(h)
        return z, self.predictor(z)


class SimSiam(Objective):
    name = "simsiam"
    title = "SimSiam + head"
    labels = Labels.NONE
    views = 2
    # Its held-out curve is logged (E4) beside the self-supervised model's, which it is
    # paired with: both label-free, they differ only in the loss.
    monitored = True
    compared_with = ("contrastive",)

    def head(self, dim: int, n_classes: int) -> nn.Module:
        return SimSiamHead(dim)

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        z, p = model(views(clips, 2))
        (z1, z2), (p1, p2) = z.chunk(2), p.chunk(2)
        # Nothing to gather: each clip's term involves its own two views only, and the mean
        # over ranks of the ranks' means (DDP's gradient, the logged loss) is the global one.
        return {"loss": simsiam_loss(p1, p2, z1, z2)}
