"""The six augmentations of CLAR as pure tensor functions (``torchaudio.functional`` style).

Every augmentation is ``f(waveform [B, T], generator, ...) -> [B, T]`` and draws one set of
parameters per example. Each has a ``draw_*`` companion that only draws those parameters, and the
function accepts them explicitly (keyword ``draw=``), so tests and callers can see and fix what
was applied. The choices behind each one are in the package's docstring (:mod:`clar.augment`).

All DSP runs in full precision (float32; see :mod:`clar.precision`) with autocast disabled (bf16
STFTs and resampling kernels are too coarse), and the result is cast back to the input dtype.

Pitch shift and time stretch, which go through the phase vocoder, live in
:mod:`~clar.augment.functional.vocoded`; fade, noise, time mask and time shift in
:mod:`~clar.augment.functional.time_domain`; what they share in
:mod:`~clar.augment.functional.batch`. This module is where all six are imported from.
"""

from clar.augment.functional.batch import check_batch
from clar.augment.functional.time_domain import (
    FadeDraw,
    NoiseDraw,
    draw_fade,
    draw_noise,
    draw_time_mask,
    draw_time_shift,
    fade,
    fade_envelope,
    noise,
    time_mask,
    time_shift,
)
from clar.augment.functional.vocoded import (
    draw_pitch_shift,
    draw_time_stretch,
    pitch_shift,
    time_stretch,
)

__all__ = [
    "FadeDraw",
    "NoiseDraw",
    "check_batch",
    "draw_fade",
    "draw_noise",
    "draw_pitch_shift",
    "draw_time_mask",
    "draw_time_shift",
    "draw_time_stretch",
    "fade",
    "fade_envelope",
    "noise",
    "pitch_shift",
    "time_mask",
    "time_shift",
    "time_stretch",
]
