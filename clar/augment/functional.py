"""The six augmentations of CLAR as pure tensor functions (``torchaudio.functional`` style).

Every augmentation is ``f(waveform [B, T], generator, ...) -> [B, T]`` and draws one set of
parameters per example. Each has a ``draw_*`` companion that only draws those parameters, and the
function accepts them explicitly (keyword ``draw=``), so tests and callers can see and fix what
was applied. The choices behind each one are in the package's docstring (:mod:`clar.augment`).

All DSP runs in full precision (float32; see :mod:`clar.precision`) with autocast disabled (bf16
STFTs and resampling kernels are too coarse), and the result is cast back to the input dtype.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torchaudio.functional as AF
from torch import Tensor, nn

from clar.augment.vocoder import HOP_LENGTH, N_FFT, istft, phase_vocoder, pitch_ratio, stft
from clar.errors import ClarError
from clar.noise import coloured_noise
from clar.precision import full
from clar.vocabulary import FADE_SHAPES, NOISE_COLOURS

# --------------------------------------------------------------------------------------------
# helpers


@contextmanager
def _full_precision_dsp(waveform: Tensor) -> Iterator[Tensor]:
    """Yield ``waveform`` in full precision (:func:`clar.precision.full`) with autocast off, so
    bf16 autocast leaves the DSP alone."""
    with torch.autocast(device_type=waveform.device.type, enabled=False):
        yield full(waveform)


def check_batch(waveform: Tensor) -> tuple[int, int]:
    if waveform.dim() != 2 or not waveform.is_floating_point():
        raise ClarError(
            f"augmentations take a float [batch, time] waveform, got {tuple(waveform.shape)} "
            f"{waveform.dtype}"
        )
    return waveform.shape[0], waveform.shape[1]


def _need_generator(generator: torch.Generator | None, name: str) -> torch.Generator:
    if generator is None:
        raise ClarError(f"{name}: pass a torch.Generator or explicit draw parameters")
    return generator


def _uniform(batch: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    u = torch.rand(batch, generator=generator, device=generator.device)
    return low + (high - low) * u


def _randint(batch: int, low: int, high: int, generator: torch.Generator) -> Tensor:
    """Integers uniform in [low, high] inclusive, shape [batch], on the generator's device."""
    return torch.randint(low, high + 1, (batch,), generator=generator, device=generator.device)


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
    return levels[_randint(batch, 0, buckets - 1, generator)]


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
            batch, _need_generator(generator, "pitch_shift"), max_semitones, buckets
        )
    draw = draw.to(waveform.device)
    moved = (draw != 0).nonzero().squeeze(1)
    if moved.numel() == 0:
        return waveform
    with _full_precision_dsp(waveform) as x:
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
        return _uniform(batch, min_rate, max_rate, generator)
    if buckets < 1:
        raise ClarError(f"time_stretch buckets must be >= 1 or None, got {buckets}")
    levels = torch.linspace(min_rate, max_rate, buckets, device=generator.device)
    return levels[_randint(batch, 0, buckets - 1, generator)]


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
            batch, _need_generator(generator, "time_stretch"), min_rate, max_rate, buckets
        )
    with _full_precision_dsp(waveform) as x:
        rate = draw.to(device=x.device, dtype=torch.float32)
        spec = stft(x, n_fft, hop_length)
        spec = phase_vocoder(spec, rate, spec.shape[-1], hop_length)
        out = istft(spec, n_fft, hop_length, length)
    return out.to(waveform.dtype)


# --------------------------------------------------------------------------------------------
# fade


class FadeDraw(NamedTuple):
    """Per-example fade parameters, each [B] int64: ramp lengths in samples and an index into
    the ``shapes`` tuple the fade was drawn with."""

    fade_in: Tensor
    fade_out: Tensor
    shape: Tensor


def draw_fade(
    batch: int,
    length: int,
    generator: torch.Generator,
    max_fraction: float = 0.5,
    shapes: Sequence[str] = FADE_SHAPES[:3],
) -> FadeDraw:
    """Draw fade-in and fade-out lengths, each uniform in [0, floor(max_fraction * length)]
    samples, and a shape uniform over ``shapes``."""
    longest = int(max_fraction * length)
    return FadeDraw(
        fade_in=_randint(batch, 0, longest, generator),
        fade_out=_randint(batch, 0, longest, generator),
        shape=_randint(batch, 0, len(shapes) - 1, generator),
    )


def _fade_in_curve(u: Tensor, shape: str) -> Tensor:
    # torchaudio.transforms.Fade._fade_in, on the ramp position u in [0, 1]
    if shape == "linear":
        return u
    if shape == "exponential":
        return torch.pow(2.0, u - 1) * u
    if shape == "logarithmic":
        return torch.log10(0.1 + u) + 1
    if shape == "quarter_sine":
        return torch.sin(u * math.pi / 2)
    if shape == "half_sine":
        return torch.sin(u * math.pi - math.pi / 2) / 2 + 0.5
    raise ClarError(f"unknown fade shape {shape!r}; allowed: {', '.join(FADE_SHAPES)}")


def _fade_out_curve(v: Tensor, shape: str) -> Tensor:
    # torchaudio.transforms.Fade._fade_out, on the ramp position v in [0, 1]
    if shape == "linear":
        return 1 - v
    if shape == "exponential":
        return torch.pow(2.0, -v) * (1 - v)
    if shape == "logarithmic":
        return torch.log10(1.1 - v) + 1
    if shape == "quarter_sine":
        return torch.sin(v * math.pi / 2 + math.pi / 2)
    if shape == "half_sine":
        return torch.sin(v * math.pi + math.pi / 2) / 2 + 0.5
    raise ClarError(f"unknown fade shape {shape!r}; allowed: {', '.join(FADE_SHAPES)}")


def fade_envelope(
    draw: FadeDraw,
    length: int,
    shapes: Sequence[str] = FADE_SHAPES[:3],
    device: torch.device | str | None = None,
) -> Tensor:
    """The gain curves of a fade draw: [B, length] float32, equal sample for sample to
    ``torchaudio.transforms.Fade(fade_in, fade_out, shape)`` for each example."""
    device = draw.fade_in.device if device is None else device
    t = torch.arange(length, device=device, dtype=torch.float32)[None, :]
    fade_in = draw.fade_in.to(device)[:, None].float()
    fade_out = draw.fade_out.to(device)[:, None].float()
    # linspace(0, 1, n) positions; a one-sample ramp is a single 0, as in torchaudio
    u = (t / (fade_in - 1).clamp(min=1)).clamp(max=1.0)
    start = length - fade_out
    v = ((t - start) / (fade_out - 1).clamp(min=1)).clamp(min=0.0)
    shape = draw.shape.to(device)[:, None]
    gain_in = torch.ones_like(u)
    gain_out = torch.ones_like(v)
    for k, name in enumerate(shapes):
        gain_in = torch.where(shape == k, _fade_in_curve(u, name), gain_in)
        gain_out = torch.where(shape == k, _fade_out_curve(v.clamp(max=1.0), name), gain_out)
    gain_in = torch.where(t < fade_in, gain_in, 1.0).clamp(0.0, 1.0)
    gain_out = torch.where(t >= start, gain_out, 1.0).clamp(0.0, 1.0)
    return gain_in * gain_out


def fade(
    waveform: Tensor,
    generator: torch.Generator | None = None,
    max_fraction: float = 0.5,
    shapes: Sequence[str] = FADE_SHAPES[:3],
    *,
    draw: FadeDraw | None = None,
) -> Tensor:
    """Fade in at the start and out at the end, each ramp up to ``max_fraction`` of the clip,
    one shape (from ``shapes``, as torchaudio's ``Fade`` defines them) per example.

    Args:
        waveform: [B, T] float.
        generator: draws the fade when ``draw`` is not given.
        draw: explicit :class:`FadeDraw`.

    Returns:
        [B, T], same dtype and device.
    """
    batch, length = check_batch(waveform)
    for name in shapes:
        if name not in FADE_SHAPES:
            raise ClarError(f"unknown fade shape {name!r}; allowed: {', '.join(FADE_SHAPES)}")
    if draw is None:
        draw = draw_fade(batch, length, _need_generator(generator, "fade"), max_fraction, shapes)
    with _full_precision_dsp(waveform) as x:
        out = x * fade_envelope(draw, length, shapes, device=x.device)
    return out.to(waveform.dtype)


# --------------------------------------------------------------------------------------------
# noise


class NoiseDraw(NamedTuple):
    """Per-example noise parameters: ``colour`` [B] int64 indexing :data:`NOISE_COLOURS`
    (0 white, 1 pink, 2 brown) and ``snr_db`` [B] float32."""

    colour: Tensor
    snr_db: Tensor


def draw_noise(
    batch: int,
    generator: torch.Generator,
    min_snr_db: float = 0.0,
    max_snr_db: float = 20.0,
    colours: Sequence[str] = NOISE_COLOURS,
) -> NoiseDraw:
    """Draw a colour uniform over ``colours`` and an SNR uniform in [min_snr_db, max_snr_db]."""
    for name in colours:
        if name not in NOISE_COLOURS:
            raise ClarError(f"unknown noise colour {name!r}; allowed: {', '.join(NOISE_COLOURS)}")
    choice = _randint(batch, 0, len(colours) - 1, generator)
    index = torch.tensor([NOISE_COLOURS.index(c) for c in colours], device=generator.device)
    return NoiseDraw(
        colour=index[choice], snr_db=_uniform(batch, min_snr_db, max_snr_db, generator)
    )


def noise(
    waveform: Tensor,
    generator: torch.Generator | None = None,
    min_snr_db: float = 0.0,
    max_snr_db: float = 20.0,
    colours: Sequence[str] = NOISE_COLOURS,
    *,
    draw: NoiseDraw | None = None,
) -> Tensor:
    """Add white, pink or brown noise at the drawn SNR relative to each clip's mean power.

    The realised noise is scaled, so ``10*log10(mean(x**2) / mean(n**2))`` equals the drawn SNR
    (up to float rounding). A silent clip gets no noise (its SNR is undefined).

    Args:
        waveform: [B, T] float.
        generator: draws the parameters (when ``draw`` is not given) and the noise itself.
        draw: explicit :class:`NoiseDraw`.

    Returns:
        [B, T], same dtype and device.
    """
    batch, length = check_batch(waveform)
    generator = _need_generator(generator, "noise")
    if draw is None:
        draw = draw_noise(batch, generator, min_snr_db, max_snr_db, colours)
    with _full_precision_dsp(waveform) as x:
        white = torch.randn(batch, length, generator=generator, device=generator.device)
        # A colour's index is its spectral exponent: 0 white, 1 pink, 2 brown.
        unit = coloured_noise(white, draw.colour.to(white.device, torch.float32)).to(x.device)
        signal_power = x.pow(2).mean(dim=-1, keepdim=True)
        snr = draw.snr_db.to(device=x.device, dtype=torch.float32)[:, None]
        out = x + unit * torch.sqrt(signal_power * torch.pow(10.0, -snr / 10))
    return out.to(waveform.dtype)


# --------------------------------------------------------------------------------------------
# time mask


def draw_time_mask(
    batch: int, length: int, generator: torch.Generator, fraction: float = 0.125
) -> Tensor:
    """Draw mask starts, uniform in [0, length - int(fraction * length)]: [batch] int64."""
    return _randint(batch, 0, length - int(fraction * length), generator)


def time_mask(
    waveform: Tensor,
    generator: torch.Generator | None = None,
    fraction: float = 0.125,
    std: float = 0.01,
    *,
    draw: Tensor | None = None,
) -> Tensor:
    """Replace one segment of exactly ``int(fraction * T)`` samples per clip by N(0, std^2)
    noise (the official code: 1/8 of the clip, ``np.random.normal(0, 0.01)``, i.e. std 0.01).

    Args:
        waveform: [B, T] float.
        generator: draws the starts (when ``draw`` is not given) and the fill noise.
        draw: explicit starts, [B] int.

    Returns:
        [B, T], same dtype and device.
    """
    batch, length = check_batch(waveform)
    generator = _need_generator(generator, "time_mask")
    if draw is None:
        draw = draw_time_mask(batch, length, generator, fraction)
    width = int(fraction * length)
    if width == 0:
        return waveform
    with _full_precision_dsp(waveform) as x:
        fill = std * torch.randn(batch, width, generator=generator, device=generator.device)
        fill = fill.to(x.device)
        offset = torch.arange(length, device=x.device)[None, :] - draw.to(x.device)[:, None]
        inside = (offset >= 0) & (offset < width)
        # draw only `width` values per clip and spread them over the mask by gathering
        out = torch.where(inside, fill.gather(1, offset.clamp(0, width - 1)), x)
    return out.to(waveform.dtype)


# --------------------------------------------------------------------------------------------
# time shift


def draw_time_shift(
    batch: int, length: int, generator: torch.Generator, max_fraction: float = 0.5
) -> Tensor:
    """Draw shifts in samples, uniform in [-int(max_fraction*length), +int(max_fraction*length)]:
    [batch] int64 (positive rolls forward, i.e. later)."""
    longest = int(max_fraction * length)
    return _randint(batch, -longest, longest, generator)


def time_shift(
    waveform: Tensor,
    generator: torch.Generator | None = None,
    max_fraction: float = 0.5,
    *,
    draw: Tensor | None = None,
) -> Tensor:
    """Roll each clip forward or back by its shift, wrapping around (``numpy.roll`` per row).

    Args:
        waveform: [B, T] float.
        generator: draws the shifts when ``draw`` is not given.
        draw: explicit shifts in samples, [B] int.

    Returns:
        [B, T], same dtype and device.
    """
    batch, length = check_batch(waveform)
    if draw is None:
        draw = draw_time_shift(
            batch, length, _need_generator(generator, "time_shift"), max_fraction
        )
    source = (
        torch.arange(length, device=waveform.device)[None, :] - draw.to(waveform.device)[:, None]
    )
    return waveform.gather(1, torch.remainder(source, length))
