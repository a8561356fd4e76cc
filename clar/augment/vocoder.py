"""The phase vocoder behind pitch shift and time stretch: batched STFTs, one time-scaling rate
per example, and the small rational resampling ratios that keep pitch shift cheap."""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from clar.errors import ClarError

# 32 ms Hann window, 75 % overlap: the usual speech setting at 16 kHz, and what
# torchaudio.functional.pitch_shift uses by default.
N_FFT = 512
HOP_LENGTH = 128
MAX_RATIO_TERM = 32  # p, q <= 32 keeps every resampling kernel at most 32 x ~110 taps


def stft(x: Tensor, n_fft: int, hop_length: int) -> Tensor:
    window = torch.hann_window(n_fft, device=x.device)
    return torch.stft(
        x, n_fft, hop_length, window=window, center=True, pad_mode="reflect", return_complex=True
    )


def istft(spec: Tensor, n_fft: int, hop_length: int, length: int) -> Tensor:
    window = torch.hann_window(n_fft, device=spec.device)
    return torch.istft(spec, n_fft, hop_length, window=window, center=True, length=length)


def phase_vocoder(spec: Tensor, rate: Tensor, n_frames: int, hop_length: int) -> Tensor:
    """Time-scale a batch of STFTs, each by its own speed-up ``rate``.

    The algorithm of ``torchaudio.functional.phase_vocoder`` (output frame k reads the input at
    ``k * rate``: magnitude interpolated linearly between the two neighbouring frames, phase
    advanced by their phase difference), but with one rate per example, so a single call serves
    a whole batch of different rates.

    Args:
        spec: complex STFT, [B, F, N].
        rate: speed-up factor per example, [B] (> 1 is faster / shorter).
        n_frames: output frames; frames that read past the input's end are silent, which is
            the zero padding on the right.
        hop_length: the STFT's hop, to find the first frame not touched by its centre padding.

    Returns:
        complex STFT, [B, F, n_frames].
    """
    batch, n_freq, n_in = spec.shape
    steps = torch.arange(n_frames, device=spec.device, dtype=torch.float32) * rate[:, None]
    i0 = steps.floor()
    alpha = steps - i0
    # Frames read past the input's end are silent: weight 0 instead of padding the spectrogram.
    weight0 = ((1 - alpha) * (i0 <= n_in - 1))[:, None, :]  # [B, 1, n_frames]
    weight1 = (alpha * (i0 + 1 <= n_in - 1))[:, None, :]
    i0 = i0.long().clamp(max=n_in - 1)[:, None, :].expand(batch, n_freq, n_frames)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    # Gather first, so the costly abs / angle run on the output frames only.
    z0, z1 = spec.gather(-1, i0), spec.gather(-1, i1)
    magnitude = torch.hypot(z0.real, z0.imag) * weight0 + torch.hypot(z1.real, z1.imag) * weight1
    # torchaudio unwraps (phase1 - phase0 - expected advance) and adds the advance back; modulo
    # 2*pi that is the plain phase difference, read here off z1 * conj(z0) in (-pi, pi], which
    # also keeps the float32 running sum small.
    increment = torch.angle(z1 * z0.conj())
    phase = torch.cumsum(increment, dim=-1) - increment  # sum of the increments before frame k
    # Anchor the running phase on the first output frame whose input frame lies wholly inside
    # the clip. torchaudio anchors on frame 0, whose reflect padding scrambles the relative
    # phases of neighbouring bins, and that error then persists in every frame (a steady tone
    # slowed down came out 3-4 dB quieter).
    first_inside = math.ceil((n_freq - 1) / hop_length)  # half a window = n_freq - 1 samples
    anchor = (first_inside / rate).ceil().long().clamp(max=n_frames - 1)  # [B]
    anchor = anchor[:, None, None].expand(batch, n_freq, 1)
    phase = phase + (torch.angle(z0.gather(-1, anchor)) - phase.gather(-1, anchor))
    # complex(m cos, m sin) rather than torch.polar: three times faster on CPU
    return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))


@lru_cache(maxsize=512)
def pitch_ratio(semitones: float, max_term: int = MAX_RATIO_TERM) -> tuple[int, int]:
    """The frequency ratio ``p/q`` used for a shift of ``semitones``: the closest fraction to
    ``2**(semitones/12)`` (in log frequency) with ``1 <= p, q <= max_term``.

    Small ``p`` and ``q`` keep ``torchaudio.functional.resample(x, p, q)`` a tiny polyphase filter.
    With ``max_term=32`` every whole semitone in [-15, 15] is within 5 cents.
    """
    target = 2.0 ** (semitones / 12.0)
    best: tuple[float, int, int] | None = None
    for q in range(1, max_term + 1):
        for p in {math.floor(target * q), math.ceil(target * q)}:
            if 1 <= p <= max_term:
                err = abs(math.log2(p / (q * target)))
                # strict improvement only: the smallest q wins ties, i.e. the reduced fraction
                if best is None or err < best[0] - 1e-12:
                    best = (err, p, q)
    if best is None:
        raise ClarError(
            f"pitch shift of {semitones} semitones needs a ratio outside [1/{max_term}, {max_term}]"
        )
    return best[1], best[2]
