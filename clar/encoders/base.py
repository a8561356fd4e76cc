"""What an encoder declares, so that training, the planner and the HEAR export can use any.

An encoder is an ``nn.Module`` class with:

- ``name``: how params.yaml (``grid.inputs``), run folders and the report call it;
- ``front_end``: what it takes. ``"waveform"``: the 16 kHz clips ``[B, T]`` (a learnable front
  end is part of such an encoder); ``"spectrogram"``: the paper's time-frequency features
  ``[B, C, F, T]`` (:mod:`clar.features`), which the features stage may compute once and store;
- ``title``: its name in the report's tables;
- a constructor ``(width, in_channels)``: the channel multiplier (``train.width``) and the
  front end's channels (1 for the waveform);
- ``out_dim`` (set by the constructor) and ``forward``: ``[B, ...] -> [B, out_dim]``;
- ``frames``: the frame-level map before pooling, ``[B, ...] -> [B, out_dim, T']``, and
  ``frame_geometry()``: where those frames sit on the input's time axis, for HEAR timestamps.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from clar.errors import ClarError

WAVEFORM = "waveform"
SPECTROGRAM = "spectrogram"
FRONT_ENDS = (WAVEFORM, SPECTROGRAM)


class Encoder(nn.Module):
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    front_end: ClassVar[str] = WAVEFORM
    out_dim: int

    def frames(self, x: Tensor) -> Tensor:
        """``[B, ...] -> [B, out_dim, T']``: one vector per output frame along time."""
        raise NotImplementedError(f"{type(self).__name__}.frames")

    def frame_geometry(self) -> tuple[int, float, int]:
        """``(stride, offset, min_length)`` on the input's time axis: output frame ``i`` is
        centred on input position ``offset + stride * i``, and an input needs ``min_length``
        positions for one output frame."""
        raise NotImplementedError(f"{type(self).__name__}.frame_geometry")

    @classmethod
    def check(cls, key: str) -> None:
        """Refuse a declaration the pipeline cannot use, naming the parameter ``key``."""
        if cls.front_end not in FRONT_ENDS:
            raise ClarError(
                f"{key}: {cls.__name__}.front_end = {cls.front_end!r}; allowed: "
                f"{', '.join(FRONT_ENDS)}"
            )
