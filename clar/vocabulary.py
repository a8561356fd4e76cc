"""The paper's names, declared once: every module, the params, the run folders and the report
spell augmentations, label fractions and splits from here. Objectives, encoders and evaluation
heads are named by the registries (clar.objectives, clar.encoders, clar.heads).

Each tuple is in the order the paper presents its members; the report shows them in that order.
"""

from __future__ import annotations

from collections.abc import Iterable

# Every label fraction is a percentage of the training labels; 100 is all of them.
FULL_FRACTION = 100.0

# The six waveform augmentations, in the order the official code applies them.
AUGMENTATIONS = ("fade", "time_mask", "time_stretch", "pitch_shift", "time_shift", "noise")
# The authors' README names fade in/out + time masking the best pair (docs/method.md, claim 1).
BEST_PAIR = ("fade", "time_mask")
# A combination of augmentations (an E1 cell, a run's views) is written as their names joined.
COMBO_SEPARATOR = "+"
FADE_SHAPES = ("linear", "logarithmic", "exponential", "quarter_sine", "half_sine")
NOISE_COLOURS = ("white", "pink", "brown")

# The channels of the time-frequency input (clar.features).
FEATURE_CHANNELS = ("log_stft", "phase", "log_mel")

SPLITS = ("train", "valid", "test")

DEVICES = ("auto", "cpu", "cuda")


def join_combo(names: Iterable[str]) -> str:
    """``("fade", "time_mask")`` -> ``"fade+time_mask"``, in the paper's order whatever the
    order given, so one combination has one name."""
    names = list(names)
    order = {name: i for i, name in enumerate(AUGMENTATIONS)}
    ranked = sorted(names, key=lambda name: (order.get(name, len(order)), name))
    return COMBO_SEPARATOR.join(ranked)


def split_combo(text: str) -> tuple[str, ...]:
    """``"fade+time_mask"`` -> ``("fade", "time_mask")``; the empty string is no augmentation."""
    return tuple(name.strip() for name in text.split(COMBO_SEPARATOR) if name.strip())
