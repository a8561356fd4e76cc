"""The augmentations as CLAR applies them to a batch: the selected ones in the paper's order,
each to a random subset of the examples (:func:`augment`), and its ``nn.Module`` wrapper."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from clar.augment.functional import (
    check_batch,
    fade,
    noise,
    pitch_shift,
    time_mask,
    time_shift,
    time_stretch,
)
from clar.config import AugmentParams
from clar.errors import ClarError
from clar.vocabulary import AUGMENTATIONS

_Apply = Callable[[Tensor, torch.Generator, AugmentParams], Tensor]

_APPLY: dict[str, _Apply] = {
    "fade": lambda x, g, p: fade(x, g, p.fade_max_fraction, p.fade_shapes),
    "time_mask": lambda x, g, p: time_mask(x, g, p.mask_fraction, p.mask_std),
    "time_stretch": lambda x, g, p: time_stretch(
        x, g, p.stretch_min_rate, p.stretch_max_rate, p.stretch_buckets
    ),
    "pitch_shift": lambda x, g, p: pitch_shift(x, g, p.pitch_max_semitones, p.pitch_buckets),
    "time_shift": lambda x, g, p: time_shift(x, g, p.shift_max_fraction),
    "noise": lambda x, g, p: noise(x, g, p.noise_min_snr_db, p.noise_max_snr_db, p.noise_colours),
}


def _check_names(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    for name in names:
        if name not in AUGMENTATIONS:
            raise ClarError(f"unknown augmentation {name!r}; allowed: {', '.join(AUGMENTATIONS)}")
    return tuple(names)


def augment(
    waveform: Tensor,
    names: Sequence[str],
    generator: torch.Generator,
    params: AugmentParams | None = None,
) -> Tensor:
    """Apply the selected augmentations in the paper's order (:data:`AUGMENTATIONS`), each to
    a random subset of the batch: every example independently with ``params.probability``.

    Only the selected rows are computed. Calling twice with the same generator gives the two
    independent views of a clip.

    Args:
        waveform: [B, T] float, on the generator's device.
        names: any of :data:`AUGMENTATIONS`, in any order; the order applied is the paper's.
        generator: the source of every random draw.
        params: the augmentations' ranges; the paper's by default.

    Returns:
        [B, T], same dtype and device.
    """
    params = AugmentParams() if params is None else params
    chosen = set(_check_names(names))
    batch, _ = check_batch(waveform)
    out = waveform
    for name in AUGMENTATIONS:
        if name not in chosen:
            continue
        picked = torch.rand(batch, generator=generator, device=generator.device)
        rows = (picked < params.probability).nonzero().squeeze(1).to(waveform.device)
        if rows.numel() == 0:
            continue
        if rows.numel() == batch:
            out = _APPLY[name](out, generator, params)
        else:
            changed = _APPLY[name](out.index_select(0, rows), generator, params)
            out = out.index_copy(0, rows, changed)
    return out


class Augment(nn.Module):
    """The selected augmentations as a module: ``Augment(names, params)(waveform, generator)``.

    No parameters or buffers; the generator is an argument so that the caller owns the
    randomness (and its device).
    """

    def __init__(self, names: Sequence[str], params: AugmentParams | None = None) -> None:
        super().__init__()
        self.names = _check_names(names)
        self.params = AugmentParams() if params is None else params

    def forward(self, waveform: Tensor, generator: torch.Generator) -> Tensor:
        """[B, T] -> [B, T]; see :func:`augment`."""
        return augment(waveform, self.names, generator, self.params)

    def extra_repr(self) -> str:
        return f"names={self.names}, params={self.params}"
