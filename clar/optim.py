"""Optimiser and schedule of CLAR (docs/method.md).

The official code uses ``LARSWrapper(Adam(groups, lr))`` from pytorch-lightning-bolts 0.2.2
(eta 0.02, clip on), weight decay 1e-6 on weights only, and a linear warm-up + cosine decay
stepped per batch. :class:`LARS` reproduces that wrapper; :func:`param_groups` and
:func:`warmup_cosine` the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from clar.precision import full

# Parameters of these modules are scales and shifts, not filters: no weight decay on them.
_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.RMSNorm,
)


def param_groups(
    model: nn.Module, weight_decay: float, lars_exclude_no_decay: bool = False
) -> list[dict[str, Any]]:
    """Split the trainable parameters of ``model`` into a decayed and a non-decayed group.

    Weights get ``weight_decay``; biases and normalisation parameters (BN, LayerNorm, ...) get
    0 (the paper: "weight decay 1e-6, not on biases and BN"). The non-decayed group carries
    ``lars_exclude=lars_exclude_no_decay``, read by :class:`LARS`. Frozen parameters
    (``requires_grad=False``) are left out; an empty group is dropped.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        is_norm = isinstance(module, _NORM_TYPES)
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if is_norm or name == "bias" or p.ndim <= 1:
                no_decay.append(p)
            else:
                decay.append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay, "lars_exclude": False},
        {"params": no_decay, "weight_decay": 0.0, "lars_exclude": lars_exclude_no_decay},
    ]
    return [g for g in groups if g["params"]]


class LARS(torch.optim.Optimizer):
    """LARS (layer-wise adaptive rate scaling) around any optimizer, as pl_bolts' LARSWrapper.

    Before the inner optimizer's step, the gradient of every parameter ``w`` of a group not
    flagged ``lars_exclude`` is replaced (LARC, You et al. 2017; NVIDIA apex LARC)::

        local_lr = eta * ||w|| / (||g|| + wd * ||w|| + eps)
        scale    = min(local_lr / lr, 1)  if clip  else  local_lr
        g       <- (g + wd * w) * scale             (scale = 1 where ||w|| = 0 or ||g|| = 0)

    and the group's own ``weight_decay`` is set to 0 for the inner step (it has been folded
    into ``g``), then restored. ``lr`` is the group's current (scheduled) rate; at ``lr = 0``
    the clipped scale is 1 (the step is null anyway). Groups flagged ``lars_exclude`` go to the
    inner optimizer untouched, weight decay included.

    With Adam inside, a constant per-tensor rescaling of ``g`` cancels in ``m / sqrt(v)``; the
    wrapper then mostly changes how steps with different gradient norms are weighed. It is kept
    because it is what the official code ran.

    Parameter groups and state are the inner optimizer's (shared objects), so schedulers and
    ``state_dict`` / ``load_state_dict`` (delegated to the inner optimizer) behave as usual.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        eta: float = 0.02,
        clip: bool = True,
        eps: float = 1e-8,
    ) -> None:
        if eta <= 0:
            raise ValueError(f"eta must be > 0, got {eta}")
        self.optim = optimizer
        self.eta = eta
        self.clip = clip
        self.eps = eps
        # Registers the inner groups (the same dict objects) and sets up Optimizer's hooks.
        super().__init__(optimizer.param_groups, optimizer.defaults)
        self._share_inner()

    def _share_inner(self) -> None:
        self.param_groups = self.optim.param_groups
        self.state = self.optim.state

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # Called by Optimizer.__init__ before self.optim's groups are shared: only record there.
        if getattr(self, "param_groups", None) is self.optim.param_groups:
            self.optim.add_param_group(param_group)
        else:
            super().add_param_group(param_group)

    def state_dict(self) -> dict[str, Any]:
        return self.optim.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.optim.load_state_dict(state_dict)
        # The inner load replaces its group list and state dict: share the new ones.
        self._share_inner()

    def __repr__(self) -> str:
        return f"LARS(eta={self.eta}, clip={self.clip}, eps={self.eps}, {self.optim!r})"

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            # Evaluate first, then rescale: handing the closure on would recompute the gradients.
            with torch.enable_grad():
                loss = closure()
        saved_decay: list[float] = []
        for group in self.param_groups:
            wd = float(group.get("weight_decay", 0.0))
            saved_decay.append(wd)
            if group.get("lars_exclude", False):
                continue
            group["weight_decay"] = 0.0
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._rescale(params, wd, float(group["lr"]))
        try:
            self.optim.step()
        finally:
            for group, wd in zip(self.param_groups, saved_decay, strict=True):
                group["weight_decay"] = wd
        return loss

    def _rescale(self, params: list[torch.Tensor], wd: float, lr: float) -> None:
        # One fused call per operation for the whole group (torch's own optimizers use the same
        # _foreach kernels): a per-parameter loop of small ops cost as much as a model's step on
        # a CPU. Tensor arithmetic throughout: no host-device sync on CUDA.
        grads = [p.grad for p in params]
        w_norm = full(torch.stack(torch._foreach_norm(params)))
        g_norm = full(torch.stack(torch._foreach_norm(grads)))
        local_lr = self.eta * w_norm / (g_norm + wd * w_norm + self.eps)
        if self.clip:
            local_lr = local_lr / lr if lr > 0 else torch.ones_like(local_lr)
            local_lr = local_lr.clamp(max=1.0)
        scale = torch.where((w_norm > 0) & (g_norm > 0), local_lr, torch.ones_like(local_lr))
        if wd != 0:
            torch._foreach_add_(grads, params, alpha=wd)
        torch._foreach_mul_(grads, list(scale.to(grads[0].dtype).unbind()))


def build_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    lars: bool,
    *,
    eta: float = 0.02,
    lars_exclude_bias_bn: bool = False,
) -> torch.optim.Optimizer:
    """Adam on :func:`param_groups`, wrapped in :class:`LARS` when ``lars`` (the official setup).

    ``eta`` 0.02 and clipping are the official code's (pl_bolts 0.2.2 defaults). The official
    wrapper rescales every parameter, biases and BN included (``lars_exclude_bias_bn=False``);
    ``True`` skips them as SimCLR does. Without ``lars``, Adam applies ``weight_decay`` as L2.
    """
    groups = param_groups(model, weight_decay, lars_exclude_no_decay=lars_exclude_bias_bn)
    # foreach: one fused kernel per update for all parameters; torch enables it only on CUDA.
    adam = torch.optim.Adam(groups, lr=lr, foreach=True)
    return LARS(adam, eta=eta) if lars else adam


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup_epochs: float,
    total_epochs: float,
    steps_per_epoch: int,
) -> LambdaLR:
    """Linear warm-up from 0 then cosine decay to 0, for a scheduler stepped once per batch.

    With ``W = round(warmup_epochs * steps_per_epoch)`` and ``S = round(total_epochs *
    steps_per_epoch)`` the factor on each group's base lr at step ``s`` is ``s / W`` for
    ``s < W`` (0 at step 0, as pl_bolts' ``LinearWarmupCosineAnnealingLR(warmup_start_lr=0)``),
    then ``0.5 * (1 + cos(pi * (s - W) / (S - W)))`` (1 at ``s = W``, 0 at ``s = S`` and after).
    A warm-up longer than the run is cut to the run, so short (smoke) runs still train.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if warmup_epochs < 0 or total_epochs <= 0:
        raise ValueError(f"bad epochs: warmup {warmup_epochs}, total {total_epochs}")
    total = max(1, round(total_epochs * steps_per_epoch))
    warmup = min(round(warmup_epochs * steps_per_epoch), total)

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        if step >= total:
            return 0.0
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    return LambdaLR(optimizer, factor)
