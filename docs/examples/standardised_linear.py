"""A linear probe on standardised embeddings, as a plug-in evaluation head: batch norm without
learnt scale or shift, then one linear layer. The embeddings of different encoders differ in
scale by orders of magnitude; standardised, one learning rate (``evaluate.lr``) meets them
on the same footing.

Name it in params.yaml::

    plugins:
      heads: [plugins/standardised_linear.py:StandardisedLinear]
    evaluate:
      head: standardised_linear
"""

from __future__ import annotations

from torch import nn

from clar.heads import EvaluationHead


class StandardisedLinear(EvaluationHead):
    """``[B, in_dim] -> [B, n_classes]``: BatchNorm1d(affine=False), Linear(in_dim, n_classes)."""

    name = "standardised_linear"
    title = "linear (standardised)"

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__(in_dim, n_classes)
        # EvaluationHead.forward applies self.net.
        self.net = nn.Sequential(nn.BatchNorm1d(in_dim, affine=False), nn.Linear(in_dim, n_classes))
