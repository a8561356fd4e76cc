"""The paper's encoders (docs/method.md): ResNet-18 in 2-D and 1-D.

- :class:`ResNet2d` (registered as ``spectrogram``): torchvision's ResNet-18 layout on the
  3-channel time-frequency input ``[B, C, F, T]``.
- :class:`ResNet1d` (registered as ``raw``): the official code's 1-D ResNet-18 on raw
  waveforms ``[B, T]`` or ``[B, 1, T]``.

The registry, and so the report's tables, list them in this order: the paper's winner first.

Both share one :class:`ResNet` / :class:`BasicBlock` implementation, parameterised by the
dimensionality and the kernel sizes; the 1-D one runs as a 2-D one of height 1 (see
:func:`_axes`). Each maps its input to one vector per item, ``[B, ...] -> [B, out_dim]``
(512 at width 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clar.encoders.base import SPECTROGRAM, WAVEFORM, Encoder

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
    bit-identical outputs and gradients where the strided one survives (docs/reproducibility.md,
    "oneDNN on AVX-512 CPUs"). The 1-D encoder's shortcut (stride 1 across the height) is not
    affected and keeps the strided call, whose sums are ordered differently; so do GPUs.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu" or min(self.stride) == 1:
            return super().forward(x)
        sh, sw = self.stride
        return F.conv2d(x[:, :, ::sh, ::sw], self.weight, self.bias)


def _time(value: int | tuple[int, ...]) -> int:
    # 2-D layers hold (frequency, time); time is the axis that gets timestamps.
    return value[-1] if isinstance(value, tuple) else value


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


class ResNet(Encoder):
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

    def frame_geometry(self) -> tuple[int, float, int]:
        """Only the stem and each stage's first block change resolution; every other
        convolution is odd-sized with half-kernel padding, so it keeps both length and centre
        (:meth:`Encoder.frame_geometry`)."""
        layers = [self.conv1, self.maxpool]
        layers += [getattr(self, name)[0].conv1 for name in self.stage_names]
        stride, offset, min_length = 1, 0.0, 1
        for layer in reversed(layers):
            k, s, p = _time(layer.kernel_size), _time(layer.stride), _time(layer.padding)
            offset = s * offset + (k - 1) / 2 - p
            stride *= s
            min_length = (min_length - 1) * s + k - 2 * p
        return stride, offset, max(min_length, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_channels, *L] -> [B, out_dim]``."""
        return torch.flatten(self.avgpool(self._trunk(x)), 1)


class ResNet2d(ResNet):
    """ResNet-18, torchvision layout (3x3 blocks and pool): ``[B, C, F, T] -> [B, out_dim]``."""

    name = "spectrogram"
    title = "ResNet-18 (2-D) on the spectrogram"
    front_end = SPECTROGRAM

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

    def frames(self, x: Tensor) -> Tensor:
        """``[B, C, F, T] -> [B, out_dim, T']``, the feature map averaged over frequency."""
        return self.feature_map(x).mean(dim=2)


class ResNet1d(ResNet):
    """The official code's 1-D ResNet-18 for raw audio: ``[B, T]`` or ``[B, 1, T] -> [B, out_dim]``.

    Stem Conv1d(1, 64, k=7, s=2) + BN + ReLU + MaxPool1d(k=9, s=2, p=1); blocks with kernel-9
    convolutions (padding 4) and kernel-1 strided shortcuts. Each is computed as its 2-D
    equivalent on a height-1 input, so a convolution's weight is ``[out, in, 1, k]``.
    """

    name = "raw"
    title = "ResNet-18 (1-D) on the waveform"
    front_end = WAVEFORM

    def __init__(
        self, width: float = 1.0, in_channels: int = 1, zero_init_residual: bool = False
    ) -> None:
        if in_channels != 1:
            raise ValueError(f"ResNet1d takes one channel (the waveform), not {in_channels}")
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

    def frames(self, x: Tensor) -> Tensor:
        """``[B, T] -> [B, out_dim, T']``."""
        return self.feature_map(x.unsqueeze(1) if x.ndim == 2 else x)


def resnet18_2d(
    width: float = 1.0, in_channels: int = 3, zero_init_residual: bool = False
) -> ResNet2d:
    """The paper's 2-D encoder (ResNet-18 on spectrogram features), 512-d at width 1.0."""
    return ResNet2d(width, in_channels, zero_init_residual)


def resnet18_1d(width: float = 1.0, zero_init_residual: bool = False) -> ResNet1d:
    """The paper's 1-D encoder (ResNet-18 with kernel-9 convolutions on waveforms), 512-d at 1.0."""
    return ResNet1d(width, 1, zero_init_residual)
