"""Single instrument notes in NSynth's 11 instrument families, played from a General MIDI SoundFont.

The SoundFont is TimGM6mb.sf2, shipped inside the pretty_midi wheel (GPL-2.0, Tim Brechbill).
Each family draws from several GM programs, so a family is not one timbre; pitch, velocity,
note length, onset, tuning, colouring and a little background noise vary per clip.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from clar.data.embedded.dsp import SAMPLE_RATE, add_noise, normalise, place, random_eq
from clar.data.embedded.soundfont import SoundFont, load, render_note
from clar.errors import ClarError

CLIP_SECONDS = 2.0

# family -> ((GM program, lowest MIDI key, highest MIDI key), ...). Ranges follow each
# instrument's usual compass so notes sound like the instrument, not a stretched sample. Three
# typical programs per family: a family is still not one timbre, but not so mixed (a clavinet
# among the pianos, a harmonica among the organs) that 16 notes a class cannot teach it.
FAMILIES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "bass": ((32, 28, 55), (33, 28, 60), (34, 28, 60)),
    "brass": ((56, 55, 82), (57, 40, 72), (60, 41, 77)),
    "flute": ((72, 74, 100), (73, 60, 96), (75, 60, 88)),
    "guitar": ((24, 40, 76), (25, 40, 79), (26, 40, 79)),
    "keyboard": ((0, 28, 96), (1, 28, 96), (2, 33, 90)),
    "mallet": ((11, 53, 89), (12, 45, 84), (13, 65, 96)),
    "organ": ((16, 36, 84), (17, 36, 84), (19, 28, 84)),
    "reed": ((65, 49, 80), (66, 44, 76), (71, 50, 89)),
    "string": ((40, 55, 91), (41, 48, 84), (48, 40, 84)),
    "synth_lead": ((80, 48, 84), (81, 40, 84), (87, 36, 72)),
    "vocal": ((52, 48, 79), (53, 48, 79), (54, 48, 79)),
}
CLASSES: tuple[str, ...] = tuple(FAMILIES)


@lru_cache(maxsize=1)
def soundfont() -> SoundFont:
    """The General MIDI SoundFont bundled with pretty_midi (parsed once per process)."""
    try:
        import pretty_midi
    except ImportError as exc:  # pragma: no cover - pretty_midi is a declared dependency
        raise ClarError("the music data set needs pretty_midi (its TimGM6mb.sf2)") from exc
    return load(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")


@lru_cache(maxsize=4096)
def playable_keys(program: int, low: int, high: int, velocity: int) -> tuple[int, ...]:
    """Keys in [low, high] that sound on a program at a velocity (falls back to all of them)."""
    sf = soundfont()
    keys = tuple(k for k in range(low, high + 1) if sf.matching(program, k, velocity))
    return keys or tuple(range(low, high + 1))


def synthesize(
    label: str, rng: np.random.Generator, clip_seconds: float = CLIP_SECONDS
) -> np.ndarray:
    """One note of an instrument of family `label`: float64 (round(clip_seconds * 16000),).

    The note starts within the first 60 ms, is held for 60-80 % of the clip, then released.
    """
    if label not in FAMILIES:
        raise ClarError(f"unknown instrument family {label!r}; choose one of {', '.join(CLASSES)}")
    sf = soundfont()
    program, low, high = FAMILIES[label][int(rng.integers(len(FAMILIES[label])))]
    velocity = int(rng.integers(64, 128))
    # Half an octave around the middle of the instrument's compass: its typical register, pitch
    # still random, but not spread so wide that, at the quick profile's budget (16 notes a
    # class, 5 epochs), harmonics at unrelated places swamp the timbre a family shares.
    centre = (low + high) // 2
    low, high = max(low, centre - 3), min(high, centre + 3)
    # Only keys the preset maps to a sample (TimGM6mb's whistle stops at G5, its alto sax lacks
    # E4), so no clip is silent and no note is a stretched neighbour.
    keys = playable_keys(program, low, high, velocity)
    key = keys[int(rng.integers(len(keys)))]
    n = round(clip_seconds * SAMPLE_RATE)
    onset = int(rng.uniform(0.0, 0.06) * SAMPLE_RATE)
    held = float(rng.uniform(0.6, 0.8)) * clip_seconds
    note = render_note(sf, program, key, velocity, held, clip_seconds, SAMPLE_RATE)
    audio = place(note, n, onset)
    audio = random_eq(audio, rng, max_tilt_db=4.0)
    audio = add_noise(audio, rng, float(rng.uniform(25.0, 50.0)))
    return normalise(audio, rng, -6.0, -1.0)
