"""NT-Xent, masked cross-entropy and the hybrid loss against plain reference computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clar.losses import HybridLoss, hybrid_loss, masked_cross_entropy, nt_xent

pytestmark = pytest.mark.numeric


def _nt_xent_loop(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    """The NT-Xent formula written out, one anchor at a time, in float64."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        num = math.exp(float(z[i] @ z[pos]) / t)
        den = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n2) if k != i)
        total += -math.log(num / den)
    return total / n2


@pytest.mark.parametrize("temperature", [0.5, 0.1])
def test_nt_xent_matches_loop(temperature: float) -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 16), torch.randn(6, 16)
    expected = _nt_xent_loop(z1, z2, temperature)
    assert nt_xent(z1, z2, temperature).item() == pytest.approx(expected, rel=1e-5)
    # Inputs already on the unit sphere (the projection head's output) give the same value.
    got = nt_xent(F.normalize(z1, dim=1), F.normalize(z2, dim=1), temperature)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_nt_xent_identical_views_lower_than_random() -> None:
    torch.manual_seed(0)
    z1 = torch.randn(32, 128)
    same = nt_xent(z1, z1.clone())
    random = nt_xent(z1, torch.randn(32, 128))
    assert same < random
    # Still > 0: the negatives stay in the denominator next to the positive.
    assert same > 0


def test_nt_xent_bf16_inputs_finite() -> None:
    torch.manual_seed(0)
    z1 = (torch.randn(64, 128) * 30).bfloat16().requires_grad_()
    z2 = (torch.randn(64, 128) * 30).bfloat16().requires_grad_()
    loss = nt_xent(z1, z2, temperature=0.05)
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(z1.grad).all()
    assert torch.isfinite(z2.grad).all()


def test_nt_xent_under_autocast_matches_float32() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(8, 32), torch.randn(8, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = nt_xent(z1, z2)
    torch.testing.assert_close(inside, nt_xent(z1, z2))


def test_nt_xent_rejects_mismatched_views() -> None:
    with pytest.raises(ValueError):
        nt_xent(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError):
        nt_xent(torch.randn(4, 8), torch.randn(4, 8), temperature=0.0)


def test_masked_ce_ignores_unlabelled() -> None:
    torch.manual_seed(0)
    logits = torch.randn(8, 5)
    labels = torch.tensor([0, -1, 3, 4, -1, 1, -1, 2])
    keep = labels >= 0
    expected = F.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(masked_cross_entropy(logits, labels), expected)


def test_masked_ce_all_labelled_is_plain_ce() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    torch.testing.assert_close(
        masked_cross_entropy(logits, labels), F.cross_entropy(logits, labels)
    )


def test_masked_ce_no_labels_is_zero_and_backpropagates() -> None:
    logits = torch.randn(4, 3, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.full((4,), -1))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad) == 0


def test_masked_ce_bf16_logits() -> None:
    logits = torch.randn(4, 3).bfloat16()
    loss = masked_cross_entropy(logits, torch.tensor([0, -1, 2, 1]))
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss)


def test_hybrid_loss_is_sum_of_parts() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    l1, l2 = torch.randn(8, 4), torch.randn(8, 4)
    labels = torch.tensor([0, 1, -1, 3, -1, 2, 2, -1])
    out = hybrid_loss(z1, z2, l1, l2, labels, temperature=0.5)
    assert isinstance(out, HybridLoss)
    keep = labels >= 0
    ce = F.cross_entropy(l1[keep], labels[keep]) + F.cross_entropy(l2[keep], labels[keep])
    torch.testing.assert_close(out.contrastive, nt_xent(z1, z2, 0.5))
    torch.testing.assert_close(out.supervised, ce)
    torch.testing.assert_close(out.total, out.contrastive + out.supervised)


def test_hybrid_loss_without_labels_is_contrastive() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(4, 16, requires_grad=True), torch.randn(4, 16)
    l1 = torch.randn(4, 3, requires_grad=True)
    out = hybrid_loss(z1, z2, l1, torch.randn(4, 3), torch.full((4,), -1), temperature=0.5)
    torch.testing.assert_close(out.total, nt_xent(z1, z2, 0.5))
    out.total.backward()
    assert torch.count_nonzero(l1.grad) == 0
    assert torch.count_nonzero(z1.grad) > 0
