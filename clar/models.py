"""Encoders and heads of CLAR (PAPER.md, "Encoders and heads").

Encoders map a batch of inputs to one vector per item, ``[B, ...] -> [B, D]`` with
``D = encoder.out_dim`` (512 at width 1.0):

- :class:`ResNet2d` (``resnet18_2d``): torchvision's ResNet-18 layout on time-frequency input
  ``[B, C, F, T]`` (C = 3 stacked features in this project).
- :class:`ResNet1d` (``resnet18_1d``): the official code's 1-D ResNet-18 on raw waveforms
  ``[B, T]`` or ``[B, 1, T]``.

Both share one :class:`ResNet` / :class:`BasicBlock` implementation, parameterised by the
dimensionality and the kernel sizes; the 1-D one runs as a 2-D one of height 1 (see
:func:`_axes`).

Heads take the encoder output ``[B, in_dim]``:

- :class:`ProjectionHead`: 3 layers to a 128-d, L2-normalised vector (contrastive model).
- :class:`ClassifierHead`: the same stack ending in class logits (supervised model).
- :class:`HybridHead`: projection + one linear layer from the 128-d vector to logits (CLAR).
- :class:`EvaluationHead`: the MLP (or linear) probe trained on a frozen encoder.

:class:`Model` puts them together: features (spectrogram input only) -> encoder -> the
objective's head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clar.errors import ClarError
from clar.features import TimeFrequency
from clar.precision import full
from clar.vocabulary import (
    CONTRASTIVE,
    HEADS,
    HYBRID,
    INPUTS,
    LINEAR,
    MLP,
    RAW,
    SPECTROGRAM,
    SUPERVISED,
)

if TYPE_CHECKING:
    from clar.config import FeatureParams

BASE_WIDTHS = (64, 128, 256, 512)
RESNET18_BLOCKS = (2, 2, 2, 2)


def _axes(dim: int, size: int, across: int) -> tuple[int, int]:
    """A kernel, stride or padding of ``size`` for a ``dim``-D ResNet, as a 2-D layer takes it.

    A 1-D ResNet runs as a 2-D one on ``[B, C, 1, L]`` (``across`` is the height's kernel or
    stride 1, or padding 0): the same arithmetic, but oneDNN's channels-last 2-D convolution is
    about 2.5x faster on a CPU than its 1-D one (measured by ``make bench``), and cuDNN runs
    1-D convolutions as 2-D ones anyway.
    """
    return (size, size) if dim == 2 else (across, size)


def _conv(dim: int, in_ch: int, out_ch: int, kernel: int, stride: int, padding: int) -> nn.Conv2d:
    return nn.Conv2d(
        in_ch,
        out_ch,
        _axes(dim, kernel, 1),
        stride=_axes(dim, stride, 1),
        padding=_axes(dim, padding, 0),
        bias=False,
    )


class StridedPointwise(nn.Conv2d):
    """A strided 1x1 convolution without padding (a ResNet shortcut): ``[B, C, H, L] ->
    [B, C', ceil(H / sh), ceil(L / sw)]``.

    Strided along both axes on a CPU, it is computed as the stride-1 convolution of the
    subsampled input, the same sum of the same products: oneDNN's AVX-512 kernel for the
    2-D strided 1x1 weight gradient in the pinned torch (oneDNN 3.10, channels-last, fewer
    than 16 input channels, an odd batch >= 3) corrupts the heap and kills the process
    (``double free``, exit -6 / -11). The stride-1 kernel has no such fault and gives
    bit-identical outputs and gradients where the strided one survives (README, "oneDNN on
    AVX-512 CPUs"). The 1-D encoder's shortcut (stride 1 across the height) is not affected
    and keeps the strided call, whose sums are ordered differently; so do GPUs.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu" or min(self.stride) == 1:
            return super().forward(x)
        sh, sw = self.stride
        return F.conv2d(x[:, :, ::sh, ::sw], self.weight, self.bias)


def scaled_width(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 8 (so tiny test models keep usable BN statistics)."""
    return max(8, round(channels * width))


class BasicBlock(nn.Module):
    """ResNet basic block: two ``kernel``-sized convolutions with BN and an identity shortcut.

    ``[B, in_ch, H, L] -> [B, out_ch, H', L']`` with ``L' = ceil(L / stride)`` (``H = 1`` in
    1-D, where only ``L`` is convolved). When the shape changes
    the shortcut is a strided 1x1 (kernel 1) convolution + BN, as in torchvision.
    """

    def __init__(self, dim: int, in_ch: int, out_ch: int, stride: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = _conv(dim, in_ch, out_ch, kernel, stride, pad)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(dim, out_ch, out_ch, kernel, 1, pad)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            shortcut = StridedPointwise(
                in_ch, out_ch, 1, stride=_axes(dim, stride, 1), padding=0, bias=False
            )
            self.downsample = nn.Sequential(shortcut, nn.BatchNorm2d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet of :class:`BasicBlock` stages for 1-D or 2-D input, ending in global average pooling.

    Stem: conv(k=``stem_kernel``, s=2) + BN + ReLU + maxpool(k=``pool_kernel``, s=2, p=1); then
    one stage per entry of ``widths`` (stride 1 for the first, 2 for the others) and a global
    average pool. ``[B, in_channels, *L] -> [B, out_dim]`` with ``out_dim = widths[-1]``.

    Initialisation follows torchvision: Kaiming-normal (fan-out, ReLU) convolutions, BN weight 1
    and bias 0; ``zero_init_residual`` zeroes the last BN of every block so each block starts as
    the identity.
    """

    def __init__(
        self,
        dim: int,
        in_channels: int,
        widths: Sequence[int],
        blocks: Sequence[int] = RESNET18_BLOCKS,
        *,
        stem_kernel: int = 7,
        pool_kernel: int = 3,
        block_kernel: int = 3,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks):
            raise ValueError(f"widths {list(widths)} and blocks {list(blocks)} differ in length")
        self.dim = dim
        self.out_dim = int(widths[-1])
        self.conv1 = _conv(dim, in_channels, widths[0], stem_kernel, 2, stem_kernel // 2)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(
            _axes(dim, pool_kernel, 1), stride=_axes(dim, 2, 1), padding=_axes(dim, 1, 0)
        )
        stages: list[nn.Module] = []
        in_ch = widths[0]
        for i, (out_ch, n) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(dim, in_ch, out_ch, stride, block_kernel)]
            layers += [BasicBlock(dim, out_ch, out_ch, 1, block_kernel) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = out_ch
        # Named layer1..layer4 like torchvision, so state dicts read the same.
        self.stage_names = [f"layer{i + 1}" for i in range(len(stages))]
        for name, stage in zip(self.stage_names, stages, strict=True):
            self.add_module(name, stage)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self._init_weights(zero_init_residual)
        # Channels-last weights: where the input's layout is ambiguous (one channel of height 1,
        # the raw stem) the convolution follows the weight's, and channels-last runs oneDNN's
        # and cuDNN's fast kernels (3x the 1-D encoder's evaluation speed on a CPU). DDP relies
        # on it too: its gradient buckets take the weights' layout, which is the gradients'.
        self.to(memory_format=torch.channels_last)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _trunk(self, x: Tensor) -> Tensor:
        """``[B, in_channels, *L]`` -> the last stage's 4-D output (1-D: ``[B, D, 1, L']``)."""
        if self.dim == 1:
            x = x.unsqueeze(2)
        # Channels-last runs oneDNN's and cuDNN's fastest convolutions; the layers keep it.
        x = self.maxpool(
            self.relu(self.bn1(self.conv1(x.contiguous(memory_format=torch.channels_last))))
        )
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x

    def feature_map(self, x: Tensor) -> Tensor:
        """The last stage's output before global pooling: ``[B, in_channels, *L] ->
        [B, out_dim, *L']``, each axis about 32 times shorter (``forward`` pools it)."""
        x = self._trunk(x)
        return x.squeeze(2) if self.dim == 1 else x

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_channels, *L] -> [B, out_dim]``."""
        return torch.flatten(self.avgpool(self._trunk(x)), 1)


class ResNet2d(ResNet):
    """ResNet-18, torchvision layout (3x3 blocks and pool): ``[B, C, F, T] -> [B, out_dim]``."""

    def __init__(
        self, width: float = 1.0, in_channels: int = 3, zero_init_residual: bool = False
    ) -> None:
        super().__init__(
            2,
            in_channels,
            [scaled_width(c, width) for c in BASE_WIDTHS],
            stem_kernel=7,
            pool_kernel=3,
            block_kernel=3,
            zero_init_residual=zero_init_residual,
        )

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, F, T] -> [B, out_dim]``."""
        if x.ndim != 4:
            raise ValueError(f"ResNet2d expects [B, C, F, T], got shape {tuple(x.shape)}")
        return super().forward(x)


class ResNet1d(ResNet):
    """The official code's 1-D ResNet-18 for raw audio: ``[B, T]`` or ``[B, 1, T] -> [B, out_dim]``.

    Stem Conv1d(1, 64, k=7, s=2) + BN + ReLU + MaxPool1d(k=9, s=2, p=1); blocks with kernel-9
    convolutions (padding 4) and kernel-1 strided shortcuts. Each is computed as its 2-D
    equivalent on a height-1 input, so a convolution's weight is ``[out, in, 1, k]``.
    """

    def __init__(self, width: float = 1.0, zero_init_residual: bool = False) -> None:
        super().__init__(
            1,
            1,
            [scaled_width(c, width) for c in BASE_WIDTHS],
            stem_kernel=7,
            pool_kernel=9,
            block_kernel=9,
            zero_init_residual=zero_init_residual,
        )

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T]`` or ``[B, 1, T] -> [B, out_dim]``."""
        if x.ndim == 2:
            x = x.unsqueeze(1)
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"ResNet1d expects [B, T] or [B, 1, T], got shape {tuple(x.shape)}")
        return super().forward(x)


def resnet18_2d(
    width: float = 1.0, in_channels: int = 3, zero_init_residual: bool = False
) -> ResNet2d:
    """The paper's 2-D encoder (ResNet-18 on spectrogram features), 512-d at width 1.0."""
    return ResNet2d(width, in_channels, zero_init_residual)


def resnet18_1d(width: float = 1.0, zero_init_residual: bool = False) -> ResNet1d:
    """The paper's 1-D encoder (ResNet-18 with kernel-9 convolutions on waveforms), 512-d at 1.0."""
    return ResNet1d(width, zero_init_residual)


def build_encoder(input: str, width: float = 1.0) -> ResNet:
    """Encoder for an input kind: ``"raw"`` -> :func:`resnet18_1d`, ``"spectrogram"`` -> 2-D.

    Raises:
        ClarError: unknown ``input``.
    """
    if input == RAW:
        return resnet18_1d(width)
    if input == SPECTROGRAM:
        return resnet18_2d(width, in_channels=3)
    raise ClarError(f"unknown encoder input {input!r}; expected one of {', '.join(INPUTS)}")


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


class HybridHead(nn.Module):
    """CLAR head: ``[B, in_dim] -> (z [B, out_dim] unit rows, logits [B, n_classes])``.

    ``z`` is the :class:`ProjectionHead` output (fed to NT-Xent); the logits are one more linear
    layer applied to that normalised ``z`` (PAPER.md: "one more layer maps the 128-d vector to
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


class EvaluationHead(nn.Module):
    """Probe on a frozen encoder: ``[B, in_dim] -> [B, n_classes]``.

    ``kind="mlp"`` (official code, pl_bolts' ``SSLEvaluator``): Dropout(p), Linear(in_dim, hidden,
    no bias), BN, ReLU, Dropout(p), Linear(hidden, n_classes). ``kind="linear"``: one
    Linear(in_dim, n_classes), no dropout (the usual linear-evaluation protocol).

    ``dropout`` defaults to 0.2: PAPER.md gives no value; the official code builds its
    evaluator with ``SSLOnlineEvaluator(drop_p=0.2)``.
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        hidden: int = 512,
        dropout: float = 0.2,
        kind: str = MLP,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.kind = kind
        if kind == MLP:
            self.net = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(in_dim, hidden, bias=False),
                nn.BatchNorm1d(hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_classes),
            )
        elif kind == LINEAR:
            self.net = nn.Sequential(nn.Linear(in_dim, n_classes))
        else:
            raise ClarError(
                f"unknown evaluation head kind {kind!r}; expected one of {', '.join(HEADS)}"
            )

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


class Model(nn.Module):
    """Features (spectrogram input only) -> ResNet-18 encoder -> the objective's head.

    ``embed``: ``[B, T]`` waveforms -> ``[B, D]``; ``forward`` applies the head: logits
    ``[B, C]`` (supervised), unit vectors ``[B, 128]`` (contrastive) or both (hybrid).
    """

    def __init__(
        self,
        input: str,
        objective: str,
        n_classes: int,
        width: float,
        features: TimeFrequency | None,
    ) -> None:
        super().__init__()
        self.features = features if input == SPECTROGRAM else None
        self.encoder = build_encoder(input, width)
        dim = self.encoder.out_dim
        heads: dict[str, Callable[[], nn.Module]] = {
            SUPERVISED: lambda: ClassifierHead(dim, n_classes),
            CONTRASTIVE: lambda: ProjectionHead(dim),
            HYBRID: lambda: HybridHead(dim, n_classes),
        }
        self.head = heads[objective]()

    def encode(self, inputs: Tensor) -> Tensor:
        """The encoder alone, on its own input: ``[B, T]`` waveforms or ``[B, C, F, T]``."""
        return self.encoder(inputs)

    def embed(self, waveform: Tensor) -> Tensor:
        return self.encoder(self.features(waveform) if self.features is not None else waveform)

    def forward(self, waveform: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return self.head(self.embed(waveform))

    def classify(self, h: Tensor) -> Tensor:
        """The model's own classifier (supervised, hybrid) on embeddings: ``[B, D] -> [B, C]``."""
        out = self.head(h)
        return out[1] if isinstance(out, tuple) else out

    def logits(self, waveform: Tensor) -> Tensor:
        """The model's own classifier on waveforms: ``[B, T] -> [B, C]``."""
        return self.classify(self.embed(waveform))


def build_model(
    input: str,
    objective: str,
    n_classes: int,
    width: float,
    sample_rate: int,
    features: FeatureParams,
) -> Model:
    """The network of a run: its input's encoder and its objective's head, at ``width``."""
    return Model(
        input, objective, n_classes, width, TimeFrequency.from_params(sample_rate, features)
    )
