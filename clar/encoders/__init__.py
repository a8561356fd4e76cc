"""The encoders, by name (:class:`clar.encoders.base.Encoder` says what each declares).

The paper's two are ``raw`` (1-D ResNet-18 on waveforms) and ``spectrogram`` (2-D ResNet-18 on
the 3-channel time-frequency input), both in :mod:`clar.encoders.resnet`. Others join through
``plugins.encoders`` in params.yaml (:mod:`clar.plugins`).
"""

from __future__ import annotations

from clar.encoders.base import WAVEFORM, Encoder
from clar.plugins import Registry

ENCODERS: Registry[Encoder] = Registry(
    "encoder", "clar.encoders", ("clar.encoders.resnet", "clar.encoders.patch_transformer"), Encoder
)


def build_encoder(name: str, width: float = 1.0, in_channels: int | None = None) -> Encoder:
    """The encoder registered as ``name`` at ``width``; ``in_channels`` defaults to what its
    front end gives with the paper's features (1 for the waveform, 3 for the spectrogram).

    Raises:
        ClarError: ``name`` is not a known encoder.
    """
    cls = ENCODERS.get(name)
    if in_channels is None:
        in_channels = 1 if cls.front_end == WAVEFORM else 3
    return cls(width=width, in_channels=in_channels)
