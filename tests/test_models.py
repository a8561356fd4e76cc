"""Encoders and heads: shapes, parameter counts, normalisation, and a tiny overfit run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from clar.encoders import build_encoder
from clar.encoders.resnet import (
    BASE_WIDTHS,
    ResNet1d,
    ResNet2d,
    StridedPointwise,
    resnet18_1d,
    resnet18_2d,
)
from clar.errors import ClarError
from clar.heads import HEADS, ClassifierHead, HybridHead, LinearHead, MLPHead, ProjectionHead

pytestmark = pytest.mark.numeric


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _expected_resnet18_params(in_channels: int, widths: list[int], kernel: int, dim: int) -> int:
    """Count ResNet-18 parameters from its layout: bias-free convs, BN with weight and bias."""

    def conv(cin: int, cout: int, k: int) -> int:
        return cin * cout * k**dim

    def bn(c: int) -> int:
        return 2 * c

    total = conv(in_channels, widths[0], 7) + bn(widths[0])  # stem (kernel 7 in 1-D and 2-D)
    cin = widths[0]
    for stage, cout in enumerate(widths):
        for block in range(2):
            c_in = cin if block == 0 else cout
            total += conv(c_in, cout, kernel) + bn(cout) + conv(cout, cout, kernel) + bn(cout)
            if block == 0 and stage > 0:  # strided 1x1 shortcut where the shape changes
                total += conv(c_in, cout, 1) + bn(cout)
        cin = cout
    return total


@pytest.mark.parametrize(("width", "dim_out"), [(1.0, 512), (0.25, 128)])
def test_resnet2d_shape(width: float, dim_out: int) -> None:
    torch.manual_seed(0)
    enc = resnet18_2d(width=width, in_channels=3).eval()
    assert isinstance(enc, ResNet2d)
    assert enc.out_dim == dim_out
    with torch.no_grad():
        out = enc(torch.randn(2, 3, 128, 126))  # a 1 s clip's 3 x 128 x 126 features
    assert out.shape == (2, dim_out)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("width", "dim_out"), [(1.0, 512), (0.25, 128)])
def test_resnet1d_shape(width: float, dim_out: int) -> None:
    torch.manual_seed(0)
    enc = resnet18_1d(width=width).eval()
    assert isinstance(enc, ResNet1d)
    assert enc.out_dim == dim_out
    x = torch.randn(2, 16000)  # 1 s at 16 kHz
    with torch.no_grad():
        out = enc(x)
        out_3d = enc(x.unsqueeze(1))
    assert out.shape == (2, dim_out)
    torch.testing.assert_close(out, out_3d)


def test_resnet1d_layout() -> None:
    # 1-D layers as 2-D ones of height 1: (1, k) kernels, (1, s) strides, (0, p) padding.
    enc = resnet18_1d()
    assert (enc.conv1.in_channels, enc.conv1.out_channels) == (1, 64)
    assert (enc.conv1.kernel_size, enc.conv1.stride) == ((1, 7), (1, 2))
    assert (enc.maxpool.kernel_size, enc.maxpool.stride, enc.maxpool.padding) == (
        (1, 9),
        (1, 2),
        (0, 1),
    )
    block = enc.layer2[0]
    assert (block.conv1.kernel_size, block.conv1.padding, block.conv1.stride) == (
        (1, 9),
        (0, 4),
        (1, 2),
    )
    assert block.downsample[0].kernel_size == (1, 1)
    assert block.downsample[0].stride == (1, 2)


def test_resnet1d_computes_the_official_1d_layers() -> None:
    # The official encoder's Conv1d / MaxPool1d arithmetic, recomputed with torch's 1-D ops
    # from the same weights, through the stem and the first strided block.
    torch.manual_seed(0)
    enc = resnet18_1d(width=0.125).eval()
    x = torch.randn(3, 1, 4000)

    def conv(layer: torch.nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
        return F.conv1d(
            h, layer.weight.squeeze(2), stride=layer.stride[1], padding=layer.padding[1]
        )

    def bn(layer: torch.nn.BatchNorm2d, h: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(h, layer.running_mean, layer.running_var, layer.weight, layer.bias)

    h = F.max_pool1d(F.relu(bn(enc.bn1, conv(enc.conv1, x))), 9, stride=2, padding=1)
    h = enc.layer1(h.unsqueeze(2)).squeeze(2)
    block = enc.layer2[0]
    out = F.relu(bn(block.bn1, conv(block.conv1, h)))
    out = bn(block.bn2, conv(block.conv2, out))
    shortcut = bn(block.downsample[1], conv(block.downsample[0], h))
    expected = F.relu(out + shortcut)
    with torch.no_grad():
        ours = enc.layer2[0](enc.layer1(enc.maxpool(enc.relu(enc.bn1(enc.conv1(x.unsqueeze(2)))))))
    torch.testing.assert_close(ours.squeeze(2), expected, atol=1e-5, rtol=1e-5)


def test_resnet_bad_input_rank() -> None:
    with pytest.raises(ValueError, match="ResNet2d expects"):
        resnet18_2d(width=0.125)(torch.randn(2, 128, 126))
    with pytest.raises(ValueError, match="ResNet1d expects"):
        resnet18_1d(width=0.125)(torch.randn(2, 2, 100))


def test_resnet18_2d_param_count_matches_torchvision_backbone() -> None:
    expected = _expected_resnet18_params(3, list(BASE_WIDTHS), kernel=3, dim=2)
    # torchvision.models.resnet18() has 11,689,512 parameters; its fc is 512 * 1000 + 1000.
    assert expected == 11_689_512 - (512 * 1000 + 1000) == 11_176_512
    assert _n_params(resnet18_2d(width=1.0, in_channels=3)) == expected


def test_resnet18_1d_param_count() -> None:
    expected = _expected_resnet18_params(1, list(BASE_WIDTHS), kernel=9, dim=1)
    assert _n_params(resnet18_1d(width=1.0)) == expected


def test_width_rounding_has_floor() -> None:
    enc = resnet18_2d(width=0.01)
    assert enc.conv1.out_channels == 8
    assert enc.out_dim == 8


def test_zero_init_residual_makes_blocks_identity_branches() -> None:
    enc = resnet18_2d(width=0.125, zero_init_residual=True)
    for layer in (enc.layer1, enc.layer2, enc.layer3, enc.layer4):
        for block in layer:
            assert torch.count_nonzero(block.bn2.weight) == 0
    default = resnet18_2d(width=0.125)
    assert torch.all(default.layer1[0].bn2.weight == 1)


def test_build_encoder() -> None:
    assert isinstance(build_encoder("raw", 0.25), ResNet1d)
    enc = build_encoder("spectrogram", 0.25)
    assert isinstance(enc, ResNet2d)
    assert enc.conv1.in_channels == 3
    with pytest.raises(ClarError, match=r"'mfcc' is not a known encoder; known: spectrogram, raw"):
        build_encoder("mfcc", 1.0)


def test_projection_head_unit_norm() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(512)
    z = head(torch.randn(8, 512))
    assert z.shape == (8, 128)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(8))
    hidden = [m.out_features for m in head.net if isinstance(m, torch.nn.Linear)]
    assert hidden == [512, 512, 128]


def test_projection_head_under_bf16_autocast_is_float32_unit() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(64, hidden=32, out_dim=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = head(torch.randn(4, 64))
    assert z.dtype == torch.float32
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))


def test_classifier_head_logits() -> None:
    head = ClassifierHead(128, n_classes=10)
    assert head(torch.randn(4, 128)).shape == (4, 10)


def test_hybrid_head_returns_projection_and_logits() -> None:
    torch.manual_seed(0)
    head = HybridHead(512, n_classes=35)
    z, logits = head(torch.randn(6, 512))
    assert z.shape == (6, 128)
    assert logits.shape == (6, 35)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(6))
    # The logits are one linear layer on the normalised projection.
    torch.testing.assert_close(logits, head.classifier(z))
    torch.testing.assert_close(
        head.logits(torch.randn(6, 512).zero_()), head(torch.zeros(6, 512))[1]
    )


def test_evaluation_heads_by_name() -> None:
    assert HEADS.get("mlp") is MLPHead and HEADS.get("linear") is LinearHead
    mlp = MLPHead(512, n_classes=11)
    assert mlp(torch.randn(4, 512)).shape == (4, 11)
    dropouts = [m.p for m in mlp.net if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [0.2, 0.2]
    linear = LinearHead(512, n_classes=11)
    assert [type(m) for m in linear.net] == [torch.nn.Linear]
    assert linear(torch.randn(4, 512)).shape == (4, 11)
    with pytest.raises(ClarError, match=r"evaluate\.head = 'svm' is not a known evaluation head"):
        HEADS.get("svm", "evaluate.head")


def test_tiny_encoder_overfits_random_spectrograms() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 3, 128, 126)
    y = torch.arange(32) % 4
    encoder = resnet18_2d(width=0.125)
    head = ClassifierHead(encoder.out_dim, n_classes=4, hidden=64)
    model = torch.nn.Sequential(encoder, head)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    # Training accuracy with batch statistics: the BN running averages lag after 15 steps.
    with torch.no_grad():
        acc = (model(x).argmax(dim=1) == y).float().mean().item()
    assert acc >= 0.95, f"training accuracy {acc:.2f}, loss {loss.item():.3f}"


def _has_avx512() -> bool:
    try:
        return "avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


# In a child process: the fault it guards against corrupts the heap and kills the interpreter,
# which would take pytest down with it instead of failing one test.
ODD_BATCHES = """
import torch
from clar.encoders import build_encoder
torch.manual_seed(0)
encoder = build_encoder("spectrogram", 0.125)
optimiser = torch.optim.SGD(encoder.parameters(), lr=0.1)
for batch in (3, 15):
    optimiser.zero_grad()
    encoder(torch.randn(batch, 3, 128, 32)).square().mean().backward()
    optimiser.step()
assert all(torch.isfinite(p).all() for p in encoder.parameters())
print("trained")
"""


@pytest.mark.skipif(not _has_avx512(), reason="the oneDNN fault needs an AVX-512 CPU")
def test_spectrogram_encoder_trains_at_odd_batches_on_avx512() -> None:
    """oneDNN's AVX-512 strided 1x1 weight gradient (8 input channels, odd batch) killed the
    process with a heap corruption; the shortcut's CPU path avoids that kernel."""
    done = subprocess.run(
        [sys.executable, "-c", ODD_BATCHES], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "trained", (
        done.returncode,
        done.stderr[-2000:],
    )


@pytest.mark.parametrize("dim, stride", [(2, (2, 2)), (1, (1, 2))])
def test_strided_shortcut_is_the_strided_convolution(dim: int, stride: tuple[int, int]) -> None:
    """Subsampling then a stride-1 1x1 convolution is the same sum of the same products as the
    strided one. In float64, so that the check holds whatever kernels a CPU picks (in float32 on
    the developers' AVX-512 CPU they were bit-identical, gradients included)."""
    torch.manual_seed(0)
    conv = StridedPointwise(8, 16, 1, stride=stride, bias=False).double()
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(5, 8, 1 if dim == 1 else 17, 33, dtype=torch.float64)
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    ours = conv(x)
    reference = F.conv2d(x, conv.weight, stride=stride)
    assert ours.shape == reference.shape == (5, 16, 1 if dim == 1 else 9, 17)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    gradient = torch.randn_like(ours)
    mine = torch.autograd.grad(ours, (x, conv.weight), gradient)
    theirs = torch.autograd.grad(reference, (x, conv.weight), gradient)
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
