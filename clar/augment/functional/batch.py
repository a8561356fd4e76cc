"""What every augmentation function shares: the batch check, the generator that draws its
parameters, and full-precision DSP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from clar.errors import ClarError
from clar.precision import full


@contextmanager
def full_precision_dsp(waveform: Tensor) -> Iterator[Tensor]:
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


def need_generator(generator: torch.Generator | None, name: str) -> torch.Generator:
    if generator is None:
        raise ClarError(f"{name}: pass a torch.Generator or explicit draw parameters")
    return generator


def draw_uniform(batch: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    u = torch.rand(batch, generator=generator, device=generator.device)
    return low + (high - low) * u


def draw_integers(batch: int, low: int, high: int, generator: torch.Generator) -> Tensor:
    """Integers uniform in [low, high] inclusive, shape [batch], on the generator's device."""
    return torch.randint(low, high + 1, (batch,), generator=generator, device=generator.device)
