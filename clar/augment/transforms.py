"""The augmentations as CLAR applies them to a batch: the selected ones in the paper's order,
each to a random subset of the examples (:func:`augment`), the views of a positive pair
(``views=2``), and its ``nn.Module`` wrapper."""

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


def draw_coins(
    views: int, batch: int, count: int, generator: torch.Generator, params: AugmentParams
) -> Tensor:
    """Which augmentations each view of each clip gets: ``[views, batch, count]`` bool, each
    True with ``params.probability`` (the official code's ``RandomApply``).

    A clip whose views drew no augmentation at all has identical views. With
    ``params.identical_views == "redraw"`` the coins of every clip with two such views are drawn
    again, for those clips only, until none is left: deterministic under ``generator``.
    """
    device = generator.device
    coins = torch.rand(views, batch, count, generator=generator, device=device) < params.probability
    if params.identical_views == "keep" or views < 2:
        return coins
    if count == 0 or params.probability == 0:
        raise ClarError(
            "augment.identical_views: redraw needs at least one augmentation drawn with "
            f"augment.probability > 0 (got {count} augmentation(s), "
            f"probability {params.probability:g}); use keep"
        )
    while True:
        again = ((~coins.any(-1)).sum(0) > 1).nonzero().squeeze(1)
        if again.numel() == 0:
            return coins
        fresh = torch.rand(views, len(again), count, generator=generator, device=device)
        coins[:, again] = fresh < params.probability


def augment(
    waveform: Tensor,
    names: Sequence[str],
    generator: torch.Generator,
    params: AugmentParams | None = None,
    views: int = 1,
) -> Tensor:
    """Draw ``views`` augmented views of every clip: the selected augmentations in the paper's
    order (:data:`AUGMENTATIONS`), each to a random subset of the rows (:func:`draw_coins`).

    Only the selected rows are computed. Every view's parameters are drawn independently; with
    ``views >= 2``, ``params.identical_views`` says what happens to a clip two of whose views
    drew nothing (and so are the same clip).

    Args:
        waveform: [B, T] float, on the generator's device.
        names: any of :data:`AUGMENTATIONS`, in any order; the order applied is the paper's.
        generator: the source of every random draw.
        params: the augmentations' ranges; the paper's by default.
        views: views per clip.

    Returns:
        [views * B, T], same dtype and device: view v of clip i in row ``v * B + i``.
    """
    params = AugmentParams() if params is None else params
    chosen = set(_check_names(names))
    batch, _ = check_batch(waveform)
    ordered = [name for name in AUGMENTATIONS if name in chosen]
    coins = draw_coins(views, batch, len(ordered), generator, params).view(views * batch, -1)
    out = waveform.repeat(views, 1)
    for k, name in enumerate(ordered):
        rows = coins[:, k].nonzero().squeeze(1).to(waveform.device)
        if rows.numel() == 0:
            continue
        if rows.numel() == len(out):
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
        """[B, T] -> [B, T], one view; see :func:`augment`."""
        return augment(waveform, self.names, generator, self.params)

    def extra_repr(self) -> str:
        return f"names={self.names}, params={self.params}"
