"""A small convolutional encoder on the paper's spectrogram features, as a plug-in encoder: three
blocks of a 3x3 convolution, batch norm, ReLU and a 2x2 max-pool, then the mean over frequency
and time. At width 1 it has 1 % of the 2-D ResNet-18's weights (93 k) and a quarter of its
FLOPs on a 1 s clip with params.yaml's features (0.16 against 0.59 GFLOP): a baseline for how
much depth buys.

Name it in params.yaml::

    plugins:
      encoders: [plugins/small_cnn.py:SmallCNN]
    grid:
      inputs: [spectrogram, raw, small_cnn]
      fractions:
        small_cnn: [1, 10, 100]
"""

from __future__ import annotations

from torch import Tensor, nn

from clar.encoders.base import SPECTROGRAM, Encoder

WIDTHS = (32, 64, 128)


def _time(value: int | tuple[int, ...]) -> int:
    # 2-D layers hold (frequency, time); time is the axis that gets timestamps.
    return value[-1] if isinstance(value, tuple) else value


class SmallCNN(Encoder):
    """``[B, C, F, T] -> [B, out_dim]``, ``out_dim = 128 * width`` (at least 8)."""

    name = "small_cnn"
    title = "small CNN on the spectrogram"
    front_end = SPECTROGRAM

    def __init__(self, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        channels = [max(8, round(c * width)) for c in WIDTHS]
        layers: list[nn.Module] = []
        for out_ch in channels:
            layers += [
                nn.Conv2d(in_channels, out_ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_channels = out_ch
        self.net = nn.Sequential(*layers)
        self.out_dim = channels[-1]

    def frames(self, x: Tensor) -> Tensor:
        """``[B, C, F, T] -> [B, out_dim, T // 8]``, the last map averaged over frequency."""
        if x.ndim != 4:
            raise ValueError(f"SmallCNN expects [B, C, F, T], got shape {tuple(x.shape)}")
        return self.net(x).mean(dim=2)

    def forward(self, x: Tensor) -> Tensor:
        # The mean of the frames: what the HEAR export's scene embedding is, too.
        return self.frames(x).mean(dim=2)

    def frame_geometry(self) -> tuple[int, float, int]:
        """Composed layer by layer, last to first: a layer of kernel k, stride s and padding p
        maps output position i to the input span centred on ``s * i + (k - 1) / 2 - p``."""
        stride, offset, min_length = 1, 0.0, 1
        for layer in reversed(self.net):
            if not isinstance(layer, nn.Conv2d | nn.MaxPool2d):
                continue  # batch norm and ReLU keep every position
            k, s, p = (_time(getattr(layer, a)) for a in ("kernel_size", "stride", "padding"))
            offset = s * offset + (k - 1) / 2 - p
            stride *= s
            min_length = (min_length - 1) * s + k - 2 * p
        return stride, offset, max(min_length, 1)
