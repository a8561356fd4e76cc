"""Heads (docs/method.md), on the encoder output ``[B, in_dim]``.

The objectives' heads, trained with the encoder (each objective's module picks its own):

- :class:`ProjectionHead`: 3 layers to a 128-d, L2-normalised vector (contrastive model).
- :class:`ClassifierHead`: the same stack ending in class logits (supervised model).
- :class:`HybridHead`: projection + one linear layer from the 128-d vector to logits (CLAR).

A head whose objective has a classifier of its own (``Objective.own_classifier``) gives its
logits by ``logits(h)``.

The evaluation heads, trained on the frozen encoder at each label fraction (``evaluate.head``),
by name: :class:`MLPHead` (``mlp``, the official code's) and :class:`LinearHead` (``linear``) on
the pooled embedding, :class:`PrototypeHead` (``proto``, Bird-MAE's prototypical probing) on the
encoder's frames; others join through ``plugins.heads`` in params.yaml (:mod:`clar.plugins`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clar.plugins import Registry
from clar.precision import full


def _mlp3(in_dim: int, hidden: int, out_dim: int, last_bias: bool) -> nn.Sequential:
    """Linear-BN-ReLU, Linear-BN-ReLU, Linear: ``[B, in_dim] -> [B, out_dim]``."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim, bias=last_bias),
    )


class ProjectionHead(nn.Module):
    """Contrastive projection ``in_dim -> hidden -> hidden -> out_dim``, L2-normalised.

    ``[B, in_dim] -> [B, out_dim]`` float32 with unit rows. The last layer has no bias, as in the
    official code (a bias before normalisation only shifts every vector alike).
    """

    def __init__(self, in_dim: int, hidden: int = 512, out_dim: int = 128) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = _mlp3(in_dim, hidden, out_dim, last_bias=False)

    def forward(self, h: Tensor) -> Tensor:
        # Normalise in float32: under bf16 autocast the norm of a bf16 vector is off by ~1e-2.
        return F.normalize(full(self.net(h)), dim=1)


class ClassifierHead(nn.Module):
    """Supervised head: the projection stack ending in logits, ``[B, in_dim] -> [B, n_classes]``."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 512) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.net = _mlp3(in_dim, hidden, n_classes, last_bias=True)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)

    def logits(self, h: Tensor) -> Tensor:
        return self.net(h)


class HybridHead(nn.Module):
    """CLAR head: ``[B, in_dim] -> (z [B, out_dim] unit rows, logits [B, n_classes])``.

    ``z`` is the :class:`ProjectionHead` output (fed to NT-Xent); the logits are one more linear
    layer applied to that normalised ``z`` (the paper: "one more layer maps the 128-d vector to
    the classes"). The official code differs: a 2-layer projection and BN-ReLU-Linear on the
    *unnormalised* 128-d vector; this class follows the paper's description.
    """

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 512, out_dim: int = 128) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.projection = ProjectionHead(in_dim, hidden, out_dim)
        self.classifier = nn.Linear(out_dim, n_classes)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        z = self.projection(h)
        return z, self.classifier(z)

    def logits(self, h: Tensor) -> Tensor:
        return self.classifier(self.projection(h))


class EvaluationHead(nn.Module):
    """A probe on a frozen encoder: ``[B, in_dim] -> [B, n_classes]``, trained at each label
    fraction by :func:`clar.probe.fit_head`. A subclass declares its ``name`` (the value of
    ``evaluate.head``) and ``title``, and takes ``(in_dim, n_classes)``.

    ``frames``: the head takes the encoder's frames ``[B, T', in_dim]``
    (:meth:`clar.encoders.base.Encoder.frames`) instead of the pooled ``[B, in_dim]``.
    ``param_groups`` and ``regularisation`` let a head set its own learning rates and add a
    term to the cross-entropy it is trained with.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    frames: ClassVar[bool] = False

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)

    def param_groups(self, lr: float) -> Iterable[nn.Parameter] | list[dict]:
        """What the head's Adam optimises, at ``lr`` (``evaluate.lr``) unless a group says."""
        return self.parameters()

    def regularisation(self) -> Tensor | None:
        """A term added to the training loss, or None."""
        return None


class MLPHead(EvaluationHead):
    """The official code's evaluator (pl_bolts' ``SSLEvaluator``): Dropout(p), Linear(in_dim,
    hidden, no bias), BN, ReLU, Dropout(p), Linear(hidden, n_classes).

    ``dropout`` defaults to 0.2: the paper gives no value; the official code builds its
    evaluator with ``SSLOnlineEvaluator(drop_p=0.2)``.
    """

    name = "mlp"
    title = "MLP"

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 512, dropout: float = 0.2):
        super().__init__(in_dim, n_classes)
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )


class LinearHead(EvaluationHead):
    """One Linear(in_dim, n_classes), no dropout: the usual linear-evaluation protocol."""

    name = "linear"
    title = "linear"

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__(in_dim, n_classes)
        self.net = nn.Sequential(nn.Linear(in_dim, n_classes))


class PrototypeHead(EvaluationHead):
    """Prototypical probing (Bird-MAE, Rauch et al. 2025; the authors' ``PPNet`` with their
    configuration): ``prototypes`` learned vectors per class, each compared by cosine similarity
    (ReLU-clipped) with every frame, the best frame kept per prototype, and a linear layer from
    the ``C * K`` similarities to the classes: ``[B, T', in_dim] -> [B, n_classes]``.

    As the authors' code: the layer connects each class to its own prototypes only, with
    non-negative weights (ReLU of the parameter, initialised to 1) and a bias initialised to
    -2; prototypes start uniform in [0, 1); an orthogonality term (the Frobenius norm of each
    class's prototype Gram matrix minus the identity, over its element count) joins the loss
    with weight 1; the prototypes learn at 40x and the layer at 0.4x ``evaluate.lr`` (their 0.04
    and 4e-4 against a base rate of 1e-3).
    """

    name = "proto"
    title = "prototypical"
    frames = True

    def __init__(self, in_dim: int, n_classes: int, prototypes: int = 20) -> None:
        super().__init__(in_dim, n_classes)
        self.per_class = prototypes
        self.prototypes = nn.Parameter(torch.rand(n_classes * prototypes, in_dim))
        self.weight = nn.Parameter(torch.ones(n_classes, prototypes))
        self.bias = nn.Parameter(torch.full((n_classes,), -2.0))

    def similarities(self, frames: Tensor) -> Tensor:
        """``[B, T', D] -> [B, C * K]``: each prototype's best cosine similarity over the frames,
        prototypes ordered by class (class ``c`` holds ``c * K ... c * K + K - 1``)."""
        cosine = F.normalize(frames, dim=-1) @ F.normalize(self.prototypes, dim=-1).T
        return torch.relu(cosine).amax(dim=1)

    def forward(self, frames: Tensor) -> Tensor:
        best = self.similarities(frames).view(len(frames), self.n_classes, self.per_class)
        return (best * torch.relu(self.weight)).sum(-1) + self.bias

    def param_groups(self, lr: float) -> list[dict]:
        return [
            {"params": [self.prototypes], "lr": 40 * lr},
            {"params": [self.weight, self.bias], "lr": 0.4 * lr},
        ]

    def regularisation(self) -> Tensor:
        unit = F.normalize(self.prototypes, dim=-1).view(self.n_classes, self.per_class, -1)
        off = unit @ unit.transpose(1, 2) - torch.eye(self.per_class, device=unit.device)
        return torch.linalg.vector_norm(off) / off.numel()


HEADS: Registry[EvaluationHead] = Registry(
    "evaluation head", "clar.heads", ("clar.heads",), EvaluationHead
)
