"""Parameter groups, the LARS wrapper and the warm-up + cosine schedule."""

from __future__ import annotations

import copy
import io
import itertools
import math

import pytest
import torch
from torch import nn

from clar.encoders.resnet import resnet18_2d
from clar.heads import ProjectionHead
from clar.optim import LARS, build_optimizer, param_groups, warmup_cosine

pytestmark = pytest.mark.numeric


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)
        self.ln = nn.LayerNorm(2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _ids(params: list[torch.Tensor]) -> set[int]:
    return {id(p) for p in params}


def test_param_groups_no_decay_on_bias_and_norm() -> None:
    m = _Small()
    groups = param_groups(m, weight_decay=1e-6)
    decay, no_decay = groups
    assert decay["weight_decay"] == 1e-6
    assert no_decay["weight_decay"] == 0.0
    assert _ids(decay["params"]) == _ids([m.conv.weight, m.fc.weight])
    assert _ids(no_decay["params"]) == _ids(
        [m.conv.bias, m.bn.weight, m.bn.bias, m.fc.bias, m.ln.weight, m.ln.bias]
    )


def test_param_groups_cover_a_resnet_once() -> None:
    model = nn.Sequential(resnet18_2d(width=0.125), ProjectionHead(64, hidden=32))
    decay, no_decay = param_groups(model, weight_decay=1e-6)
    all_ids = [id(p) for g in (decay, no_decay) for p in g["params"]]
    assert len(all_ids) == len(set(all_ids)) == len(list(model.parameters()))
    assert all(p.ndim > 1 for p in decay["params"])
    assert all(p.ndim == 1 for p in no_decay["params"])


def test_build_optimizer() -> None:
    model = _Small()
    opt = build_optimizer(model, lr=0.1, weight_decay=1e-6, lars=True)
    assert isinstance(opt, LARS)
    assert isinstance(opt.optim, torch.optim.Adam)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-6, 0.0]
    assert [g["lars_exclude"] for g in opt.param_groups] == [False, False]
    excl = build_optimizer(model, 0.1, 1e-6, lars=True, lars_exclude_bias_bn=True)
    assert [g["lars_exclude"] for g in excl.param_groups] == [False, True]
    plain = build_optimizer(model, lr=0.1, weight_decay=1e-6, lars=False)
    assert type(plain) is torch.optim.Adam


def test_lars_formula_with_sgd_inside() -> None:
    """One step of LARS(SGD) equals the documented formula, parameter by parameter."""
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, 3))
    b = nn.Parameter(torch.randn(5))
    excluded = nn.Parameter(torch.randn(4))
    lr, wd, eta = 0.5, 0.01, 0.02
    sgd = torch.optim.SGD(
        [
            {"params": [w, b], "weight_decay": wd},
            {"params": [excluded], "weight_decay": wd, "lars_exclude": True},
        ],
        lr=lr,
    )
    opt = LARS(sgd, eta=eta, clip=True)
    grads = {p: torch.randn_like(p) * 3 for p in (w, b, excluded)}
    before = {p: p.detach().clone() for p in grads}
    for p, g in grads.items():
        p.grad = g.clone()
    opt.step()
    for p in (w, b):
        w0, g = before[p], grads[p]
        local = eta * w0.norm() / (g.norm() + wd * w0.norm() + 1e-8)
        scale = min(local.item() / lr, 1.0)
        torch.testing.assert_close(p.detach(), w0 - lr * scale * (g + wd * w0))
    # Excluded: plain SGD with its own weight decay.
    w0, g = before[excluded], grads[excluded]
    torch.testing.assert_close(excluded.detach(), w0 - lr * (g + wd * w0))
    assert [grp["weight_decay"] for grp in opt.param_groups] == [wd, wd]


def test_lars_adam_fits_linear_regression() -> None:
    torch.manual_seed(0)
    x = torch.randn(128, 8)
    y = x @ torch.randn(8, 1) + 0.5
    model = nn.Linear(8, 1)
    opt = build_optimizer(model, lr=0.05, weight_decay=0.0, lars=True)
    first = None
    for _ in range(300):
        loss = nn.functional.mse_loss(model(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3 * first


def test_lars_adam_minimises_quadratic_with_closure() -> None:
    torch.manual_seed(0)
    target = torch.randn(10)
    p = nn.Parameter(torch.randn(10))
    opt = LARS(torch.optim.Adam([p], lr=0.05))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((p - target) ** 2).sum()
        loss.backward()
        return loss

    start = closure().item()
    for _ in range(300):
        last = opt.step(closure)
    assert last.item() < 1e-2 * start


def _train_steps(model: nn.Module, opt: torch.optim.Optimizer, sched, data, n: int) -> None:
    x, y = data
    for _ in range(n):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def test_state_dict_round_trip_gives_identical_steps() -> None:
    torch.manual_seed(0)
    data = (torch.randn(16, 6), torch.randint(0, 3, (16,)))

    def make(model: nn.Module):
        opt = build_optimizer(model, lr=0.01, weight_decay=1e-4, lars=True)
        return opt, warmup_cosine(opt, warmup_epochs=1, total_epochs=4, steps_per_epoch=3)

    model_a = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt_a, sched_a = make(model_a)
    _train_steps(model_a, opt_a, sched_a, data, 4)

    buf = io.BytesIO()
    torch.save(
        {"model": model_a.state_dict(), "opt": opt_a.state_dict(), "sched": sched_a.state_dict()},
        buf,
    )
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    model_b = copy.deepcopy(model_a)
    with torch.no_grad():
        for p in model_b.parameters():
            p.add_(1.0)  # make sure the load, not the copy, restores the weights
    model_b.load_state_dict(ckpt["model"])
    opt_b, sched_b = make(model_b)
    opt_b.load_state_dict(ckpt["opt"])
    sched_b.load_state_dict(ckpt["sched"])
    assert opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]

    _train_steps(model_a, opt_a, sched_a, data, 3)
    _train_steps(model_b, opt_b, sched_b, data, 3)
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert opt_b.param_groups is opt_b.optim.param_groups
    assert opt_b.state is opt_b.optim.state


def _lrs(warmup: float, total: float, spe: int, base: float = 0.1) -> list[float]:
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = warmup_cosine(opt, warmup, total, spe)
    out = []
    for _ in range(round(total * spe) + 2):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_cosine_schedule() -> None:
    lrs = _lrs(warmup=2, total=10, spe=5)  # 10 warm-up steps, 50 in all
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(0.05)
    assert lrs[10] == pytest.approx(0.1)  # end of warm-up: the base lr
    assert lrs[30] == pytest.approx(0.05)  # half-way through the cosine
    assert lrs[50] == pytest.approx(0.0, abs=1e-12)  # the end
    assert lrs[51] == 0.0
    assert all(a < b for a, b in itertools.pairwise(lrs[:11]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:51]))
    assert lrs[11] == pytest.approx(0.05 * (1 + math.cos(math.pi / 40)))


def test_warmup_cosine_without_warmup_and_with_too_long_warmup() -> None:
    assert _lrs(warmup=0, total=2, spe=3)[0] == pytest.approx(0.1)
    short = _lrs(warmup=10, total=1, spe=4)  # warm-up cut to the 4-step run
    assert short[:5] == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.0])
