"""Batch-norm statistics recomputed for the trained weights ("precise BN").

Training leaves each batch-norm layer with running statistics that are an exponential average
(momentum 0.1, so mostly the last ten or so steps) of batches of augmented views, taken while the
weights were still moving. After a short training run (the quick profile's 50 steps) those
averages describe earlier networks, and a model in eval mode normalises with the wrong mean and
variance: measured on the speech stand-in, a supervised raw model's own classifier scored 28 %
in eval mode and 82 % once the statistics were recomputed (docs/method.md, "The own classifier").

:func:`recompute` sets every layer's ``running_mean`` / ``running_var`` to the exact mean and
unbiased variance of its input over the given batches, as fvcore's ``update_bn_stats`` does but
without its average of per-batch variances, which leaves out the spread between batches. Each
layer normalises with its batch's statistics on the way, as in training, with no gradient; the
moments of each batch are merged in float64 (Chan et al.'s pairwise update), so no sum over
millions of positions is kept in float32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_BatchNorm = nn.modules.batchnorm._BatchNorm


class _Moments:
    """Count, mean and sum of squared deviations per channel, merged batch by batch."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None

    def add(self, x: Tensor) -> None:
        # Every axis but the channels (axis 1): BatchNorm1d [B, C] or [B, C, L], 2d [B, C, H, W].
        dims = [d for d in range(x.ndim) if d != 1]
        n = x.numel() // x.shape[1]
        # Half precision (autocast) widened; float32 and float64 inputs keep their precision.
        x = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        var, mean = torch.var_mean(x, dim=dims, correction=0)
        mean, m2 = mean.double(), var.double() * n
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta.square() * (self.count * n / total)
        self.count = total


def layers(model: nn.Module) -> list[_BatchNorm]:
    """The batch-norm layers of ``model`` that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _batch_statistics(bn: _BatchNorm, x: Tensor) -> Tensor:
    """``bn`` normalising with its batch's own statistics, as in training, without touching its
    running statistics and without the all-reduce of a layer synchronised over the ranks (rank 0
    recomputes alone)."""
    return F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)


@torch.no_grad()
def recompute(
    model: nn.Module, forward: Callable[[Tensor], object], batches: Iterable[Tensor]
) -> int:
    """Set the running statistics of every batch-norm layer of ``model`` to the exact moments of
    its input over ``batches``, each put through ``forward`` (which runs ``model``).

    On the way each layer normalises with its batch's statistics, as in training; nothing else
    of ``model`` changes (its mode included). Each batch must hold at least two items. Returns
    the number of items seen.
    """
    bns = layers(model)
    moments = {bn: _Moments() for bn in bns}
    hooks = [bn.register_forward_pre_hook(lambda m, args: moments[m].add(args[0])) for bn in bns]
    items = 0
    try:
        for bn in bns:
            # An instance attribute, which Module.__call__ runs in place of the class's forward.
            bn.forward = partial(_batch_statistics, bn)
        for batch in batches:
            forward(batch)
            items += len(batch)
    finally:
        for hook in hooks:
            hook.remove()
        for bn in bns:
            bn.__dict__.pop("forward", None)
    for bn, m in moments.items():
        if m.mean is None or m.m2 is None:
            continue  # a layer the forward never reached (a head it does not call)
        bn.running_mean.copy_(m.mean.to(bn.running_mean.dtype))
        # Unbiased, as batch norm's own running variance.
        bn.running_var.copy_((m.m2 / max(m.count - 1, 1)).to(bn.running_var.dtype))
    return items


@contextmanager
def kept(model: nn.Module) -> Iterator[None]:
    """Restore every layer's running statistics on exit: the training monitor probes with
    recomputed statistics while training goes on with its own."""
    bns = layers(model)
    saved = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in bns]
    try:
        yield
    finally:
        for bn, (mean, var) in zip(bns, saved, strict=True):
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)


def even_batches(index: Tensor, batch_size: int) -> list[Tensor]:
    """``index`` cut into ``max(1, len // batch_size)`` batches of nearly equal size, each of at
    least ``min(batch_size, len)`` items: no short last batch for a layer to normalise alone."""
    return list(index.tensor_split(max(1, len(index) // batch_size)))
