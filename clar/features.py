"""The time-frequency input of the 2-D encoder: three features stacked as channels, [C, F, T].

The paper gives two versions. The default follows the official code: an STFT with a 2048-sample
(128 ms) Hann window and a 128-sample (8 ms) hop, and three channels on 128 bins from 40 to
8000 Hz:

- ``log_stft``: log-power ``10*log10(|S|^2)`` of the STFT pooled onto 128 log-spaced bands,
- ``phase``: the STFT phase at the FFT bin nearest each log-spaced band centre,
- ``log_mel``: log-power of a 128-band mel spectrogram.

The paper's text says 16 ms windows; a 256-point FFT has 129 bins 62.5 Hz apart, too coarse
for 128 bands from 40 Hz (most low bands would be empty), so ``window_ms`` is a parameter and
the default is the code's. Features are computed on the fly, after augmentation, on whatever
device the batch is on; :class:`TimeFrequency` holds the filterbanks as buffers.

The window and filterbanks are computed in float64 and rounded once to float32, so they are the
same bits on every CPU (torchaudio's float32 mel filterbank is not: its pow and log take
different SIMD paths). A float64 waveform is analysed in float64 throughout, which is how the
stored features are made (:mod:`clar.data.feature_store`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from clar.precision import full

if TYPE_CHECKING:
    from clar.config import FeatureParams

AMIN = 1e-10  # floor before the log, as torchaudio's AmplitudeToDB uses


def log_frequencies(f_min: float, f_max: float, n_bins: int) -> Tensor:
    """Band centres spaced evenly on a log-frequency axis: ``[n_bins]`` in Hz."""
    return f_min * (f_max / f_min) ** torch.linspace(0.0, 1.0, n_bins, dtype=torch.float64)


def log_frequency_fbanks(
    n_freqs: int, f_min: float, f_max: float, n_bins: int, sample_rate: int
) -> Tensor:
    """Triangular filters centred on :func:`log_frequencies`: ``[n_freqs, n_bins]``.

    Each triangle spans its neighbours' centres, widened to at least one FFT bin on each side
    so that low bands narrower than the FFT resolution still see the nearest bins. Each filter
    is normalised to unit sum: a band's value is the mean power around its centre.
    """
    centres = log_frequencies(f_min, f_max, n_bins)
    ratio = (f_max / f_min) ** (1.0 / max(n_bins - 1, 1))
    edges = torch.cat([centres[:1] / ratio, centres, centres[-1:] * ratio])
    spacing = sample_rate / (2.0 * (n_freqs - 1))
    low = torch.minimum(edges[:-2], centres - spacing)
    high = torch.maximum(edges[2:], centres + spacing)
    freqs = torch.linspace(0.0, sample_rate / 2.0, n_freqs, dtype=torch.float64)[:, None]
    rising = (freqs - low) / (centres - low)
    falling = (high - freqs) / (high - centres)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return full(weights / weights.sum(dim=0, keepdim=True))


def nearest_bins(n_freqs: int, f_min: float, f_max: float, n_bins: int, sample_rate: int) -> Tensor:
    """Index of the FFT bin nearest each log-spaced band centre: ``[n_bins]`` int64."""
    spacing = sample_rate / (2.0 * (n_freqs - 1))
    centres = log_frequencies(f_min, f_max, n_bins)
    return torch.round(centres / spacing).long().clamp(max=n_freqs - 1)


def mel_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> Tensor:
    """HTK mel triangles without normalisation, torchaudio's ``melscale_fbanks(..., norm=None,
    mel_scale="htk")`` computed in float64: ``[n_freqs, n_mels]`` float64."""

    def to_mel(hz: float) -> float:
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    freqs = torch.linspace(0.0, float(sample_rate // 2), n_freqs, dtype=torch.float64)
    mels = torch.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2, dtype=torch.float64)
    points = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    width = points[1:] - points[:-1]
    slopes = points[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / width[:-1]
    up = slopes[:, 2:] / width[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0)


def power_to_db(power: Tensor) -> Tensor:
    """``10*log10(max(power, AMIN))``, elementwise."""
    return 10.0 * torch.log10(torch.clamp(power, min=AMIN))


def time_frequency(
    waveform: Tensor,
    window: Tensor,
    hop: int,
    channels: Sequence[str],
    log_fbanks: Tensor,
    mel_fbanks: Tensor,
    phase_bins: Tensor,
) -> Tensor:
    """Stack the selected feature channels of a batch of clips.

    Args:
        waveform: ``[B, T]`` clips.
        window: ``[n_fft]`` analysis window (its length is the FFT size).
        hop: hop length in samples.
        channels: names from ``("log_stft", "phase", "log_mel")``, in output order.
        log_fbanks, mel_fbanks: ``[n_fft // 2 + 1, F]`` filterbanks.
        phase_bins: ``[F]`` FFT bins whose phase the ``phase`` channel keeps.

    Returns:
        ``[B, C, F, frames]`` with ``frames = T // hop + 1`` (centred frames): float64 for a
        float64 waveform (window and filterbanks are then cast to it), float32 otherwise.
    """
    # The STFT runs in float32 even under bf16 autocast: log-power needs the dynamic range.
    with torch.autocast(device_type=waveform.device.type, enabled=False):
        dtype = torch.promote_types(waveform.dtype, torch.float32)
        window, log_fbanks, mel_fbanks = (t.to(dtype) for t in (window, log_fbanks, mel_fbanks))
        spec = torch.stft(
            waveform.to(dtype),
            n_fft=window.numel(),
            hop_length=hop,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # [B, n_freqs, frames]
        planes = []
        for name in channels:
            if name == "log_stft":
                planes.append(power_to_db(torch.einsum("bft,fk->bkt", power, log_fbanks)))
            elif name == "phase":
                planes.append(torch.angle(spec[:, phase_bins, :]))
            elif name == "log_mel":
                planes.append(power_to_db(torch.einsum("bft,fk->bkt", power, mel_fbanks)))
            else:
                raise ValueError(f"unknown feature channel {name!r}")
        return torch.stack(planes, dim=1)


class TimeFrequency(nn.Module):
    """:func:`time_frequency` with its window and filterbanks built once, as buffers.

    ``[B, T] -> [B, C, n_bins, T // hop + 1]``; at the defaults a 1 s, 16 kHz clip gives
    ``[3, 128, 126]`` as in the official code.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        window_ms: float = 128.0,
        hop_ms: float = 8.0,
        n_bins: int = 128,
        f_min: float = 40.0,
        f_max: float = 8000.0,
        channels: Sequence[str] = ("log_stft", "phase", "log_mel"),
    ) -> None:
        super().__init__()
        n_fft = round(sample_rate * window_ms / 1000)
        n_freqs = n_fft // 2 + 1
        self.hop = round(sample_rate * hop_ms / 1000)
        self.channels = tuple(channels)
        self.register_buffer(
            "window", torch.hann_window(n_fft, dtype=torch.float64).float(), persistent=False
        )
        self.register_buffer(
            "log_fbanks",
            log_frequency_fbanks(n_freqs, f_min, f_max, n_bins, sample_rate),
            persistent=False,
        )
        self.register_buffer(
            "mel_fbanks",
            mel_fbanks(n_freqs, f_min, f_max, n_bins, sample_rate).float(),
            persistent=False,
        )
        self.register_buffer(
            "phase_bins", nearest_bins(n_freqs, f_min, f_max, n_bins, sample_rate), persistent=False
        )

    @classmethod
    def from_params(cls, sample_rate: int, params: FeatureParams) -> TimeFrequency:
        """The module for the ``features:`` section of params.yaml."""
        return cls(
            sample_rate,
            params.window_ms,
            params.hop_ms,
            params.n_bins,
            params.f_min,
            params.f_max,
            params.channels,
        )

    def frames(self, samples: int) -> int:
        """Number of frames for clips of ``samples`` samples."""
        return samples // self.hop + 1

    def forward(self, waveform: Tensor) -> Tensor:
        return time_frequency(
            waveform,
            self.window,
            self.hop,
            self.channels,
            self.log_fbanks,
            self.mel_fbanks,
            self.phase_bins,
        )


def gigabytes(n: int, channels: int, n_bins: int, frames: int) -> float:
    """Size of ``n`` float16 feature tensors ``[channels, n_bins, frames]`` in GB (1e9 bytes)."""
    return n * channels * n_bins * frames * 2 / 1e9
