"""The four augmentations that work on the samples directly: fade, noise, time mask and time
shift."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from clar.augment.functional.batch import (
    check_batch,
    draw_integers,
    draw_uniform,
    full_precision_dsp,
    need_generator,
)
from clar.errors import ClarError
from clar.noise import coloured_noise
from clar.vocabulary import FADE_SHAPES, NOISE_COLOURS

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
        fade_in=draw_integers(batch, 0, longest, generator),
        fade_out=draw_integers(batch, 0, longest, generator),
        shape=draw_integers(batch, 0, len(shapes) - 1, generator),
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
        draw = draw_fade(batch, length, need_generator(generator, "fade"), max_fraction, shapes)
    with full_precision_dsp(waveform) as x:
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
    choice = draw_integers(batch, 0, len(colours) - 1, generator)
    index = torch.tensor([NOISE_COLOURS.index(c) for c in colours], device=generator.device)
    return NoiseDraw(
        colour=index[choice], snr_db=draw_uniform(batch, min_snr_db, max_snr_db, generator)
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
    generator = need_generator(generator, "noise")
    if draw is None:
        draw = draw_noise(batch, generator, min_snr_db, max_snr_db, colours)
    with full_precision_dsp(waveform) as x:
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
    return draw_integers(batch, 0, length - int(fraction * length), generator)


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
    generator = need_generator(generator, "time_mask")
    if draw is None:
        draw = draw_time_mask(batch, length, generator, fraction)
    width = int(fraction * length)
    if width == 0:
        return waveform
    with full_precision_dsp(waveform) as x:
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
    return draw_integers(batch, -longest, longest, generator)


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
        draw = draw_time_shift(batch, length, need_generator(generator, "time_shift"), max_fraction)
    source = (
        torch.arange(length, device=waveform.device)[None, :] - draw.to(waveform.device)[:, None]
    )
    return waveform.gather(1, torch.remainder(source, length))
