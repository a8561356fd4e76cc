"""The two augmentations that go through the phase vocoder (:mod:`clar.augment.vocoder`): pitch
shift (resample, then stretch back to length) and time stretch."""

from __future__ import annotations

import math

import torch
import torchaudio.functional as AF
from torch import Tensor, nn

from clar.augment.functional.batch import (
    check_batch,
    draw_integers,
    draw_uniform,
    full_precision_dsp,
    need_generator,
)
from clar.augment.vocoder import HOP_LENGTH, N_FFT, istft, phase_vocoder, pitch_ratio, stft
from clar.errors import ClarError

# --------------------------------------------------------------------------------------------
# pitch shift


def draw_pitch_shift(
    batch: int, generator: torch.Generator, max_semitones: float = 15.0, buckets: int = 31
) -> Tensor:
    """Draw semitone shifts, uniform over ``buckets`` evenly spaced values in
    [-max_semitones, max_semitones] (31 buckets over +-15: every whole semitone).

    Returns:
        float32 [batch] on the generator's device.
    """
    if buckets < 1:
        raise ClarError(f"pitch_shift buckets must be >= 1, got {buckets}")
    levels = torch.linspace(-max_semitones, max_semitones, buckets, device=generator.device)
    if buckets == 1:
        levels = levels.new_zeros(1)
    return levels[draw_integers(batch, 0, buckets - 1, generator)]


def pitch_shift(
    waveform: Tensor,
    generator: torch.Generator | None = None,
    max_semitones: float = 15.0,
    buckets: int = 31,
    *,
    draw: Tensor | None = None,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
) -> Tensor:
    """Raise or lower the pitch of each clip, keeping its duration.

    Per distinct shift (bucket) the sub-batch is resampled by the rational ratio
    ``p/q = pitch_ratio(s)`` (playing it ``p/q`` faster raises every frequency by ``p/q`` and
    changes the length to ~``T*q/p``); then every clip of the batch is phase-vocoded back to
    ``T`` samples in one STFT / vocoder / iSTFT pass, each with its own rate. Resampling first
    (librosa stretches first) is what lets all buckets share that one batched STFT.

    Args:
        waveform: [B, T] float.
        generator: draws the shifts when ``draw`` is not given.
        max_semitones, buckets: see :func:`draw_pitch_shift`.
        draw: explicit shifts in semitones, [B]; any value works (its ratio comes from
            :func:`pitch_ratio`), the run time grows with the number of distinct values.

    Returns:
        [B, T], same dtype and device. Examples with a zero shift are returned unchanged.
    """
    batch, length = check_batch(waveform)
    if draw is None:
        draw = draw_pitch_shift(
            batch, need_generator(generator, "pitch_shift"), max_semitones, buckets
        )
    draw = draw.to(waveform.device)
    moved = (draw != 0).nonzero().squeeze(1)
    if moved.numel() == 0:
        return waveform
    with full_precision_dsp(waveform) as x:
        x_moved = x.index_select(0, moved)
        shifts = draw.index_select(0, moved)
        values = sorted(set(shifts.tolist()))
        ratios = {s: pitch_ratio(s) for s in values}
        pad = n_fft // 2
        longest = max(math.ceil(length * q / p) for p, q in ratios.values()) + pad
        resampled = x.new_zeros(moved.numel(), longest)
        rate = x.new_empty(moved.numel())
        for s in values:
            p, q = ratios[s]
            rows = (shifts == s).nonzero().squeeze(1)
            y = AF.resample(x_moved.index_select(0, rows), orig_freq=p, new_freq=q)
            # Reflect past the true end, as the STFT's own centring would, rather than reading
            # the zeros that pad the shorter buckets up to `longest`.
            y = nn.functional.pad(y, (0, min(pad, y.shape[-1] - 1)), mode="reflect")
            resampled[rows, : y.shape[-1]] = y
            rate[rows] = q / p
        spec = stft(resampled, n_fft, hop_length)
        spec = phase_vocoder(spec, rate, length // hop_length + 1, hop_length)
        shifted = istft(spec, n_fft, hop_length, length)
        out = x.index_copy(0, moved, shifted)
    return out.to(waveform.dtype)


# --------------------------------------------------------------------------------------------
# time stretch


def draw_time_stretch(
    batch: int,
    generator: torch.Generator,
    min_rate: float = 0.5,
    max_rate: float = 1.5,
    buckets: int | None = None,
) -> Tensor:
    """Draw speed-up rates, uniform in [min_rate, max_rate]; with ``buckets`` an int, uniform
    over that many evenly spaced rates instead.

    Returns:
        float32 [batch] on the generator's device.
    """
    if buckets is None:
        return draw_uniform(batch, min_rate, max_rate, generator)
    if buckets < 1:
        raise ClarError(f"time_stretch buckets must be >= 1 or None, got {buckets}")
    levels = torch.linspace(min_rate, max_rate, buckets, device=generator.device)
    return levels[draw_integers(batch, 0, buckets - 1, generator)]


def time_stretch(
    waveform: Tensor,
    generator: torch.Generator | None = None,
    min_rate: float = 0.5,
    max_rate: float = 1.5,
    buckets: int | None = None,
    *,
    draw: Tensor | None = None,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
) -> Tensor:
    """Speed each clip up or slow it down by its rate, keeping the pitch (phase vocoder), then
    zero-pad or cut on the right back to ``T`` samples.

    A rate ``r > 1`` shortens the content to ``T/r`` samples followed by silence; ``r < 1``
    stretches it to ``T/r`` and keeps the first ``T``. One batched STFT / vocoder / iSTFT pass
    for the whole batch, whatever the rates.

    Args:
        waveform: [B, T] float.
        generator: draws the rates when ``draw`` is not given.
        min_rate, max_rate, buckets: see :func:`draw_time_stretch`.
        draw: explicit rates, [B], positive.

    Returns:
        [B, T], same dtype and device.
    """
    batch, length = check_batch(waveform)
    if draw is None:
        draw = draw_time_stretch(
            batch, need_generator(generator, "time_stretch"), min_rate, max_rate, buckets
        )
    with full_precision_dsp(waveform) as x:
        rate = draw.to(device=x.device, dtype=torch.float32)
        spec = stft(x, n_fft, hop_length)
        spec = phase_vocoder(spec, rate, spec.shape[-1], hop_length)
        out = istft(spec, n_fft, hop_length, length)
    return out.to(waveform.dtype)
