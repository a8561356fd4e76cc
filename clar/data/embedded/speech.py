"""The 10 Speech Commands keywords, spoken by a small formant synthesiser (numpy only).

Each keyword is its phoneme string (``WORDS``); each phoneme is a target for the first three
formants, a voicing level and a noise source (frication band, stop burst or aspiration), as in
a Klatt-style cascade synthesiser. Targets are smoothed into continuous tracks, so formant
transitions (coarticulation) appear between phonemes as in real speech. A clip is one token by
one random speaker: pitch and intonation, vocal-tract length (all formants scaled together),
speaking rate, per-phoneme timing and formant jitter, voice quality (spectral tilt,
breathiness), then a random microphone colouring, background noise and level.

Classes therefore differ the way spoken words differ: in their sequence of vowel qualities,
formant transitions, fricatives and stop bursts, never in loudness or a fixed pitch. Word pairs
that share phonemes (on/off, no/go, up/stop, left/yes) are confusable, as in the real set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clar.data.embedded.dsp import (
    SAMPLE_RATE,
    add_noise,
    convolve_same,
    normalise,
    place,
    random_eq,
    shaped_noise,
)
from clar.errors import ClarError

CLIP_SECONDS = 1.0
CLASSES: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

# Track resolution: 2 ms frames are finer than any phoneme event (a stop burst lasts ~10 ms).
_HOP = 32
_MAX_HZ = 7800.0  # keep every component below the 8 kHz Nyquist limit


@dataclass(frozen=True)
class Phone:
    """One phoneme target. Formants are for an adult male tract (scaled per speaker)."""

    ms: float  # duration at the reference speaking rate
    formants: tuple[float, float, float]  # F1, F2, F3 in Hz
    voice: float  # amplitude of the glottal source, 0-1
    noise: float = 0.0  # amplitude of the noise source, 0-1
    band: tuple[float, float] | None = None  # frication/burst band in Hz; None: aspiration


# Vowel formants after Hillenbrand et al. (1995), male speakers; consonant "formants" are the
# loci the neighbouring vowels move towards (labial low F2, alveolar ~1800 Hz, velar ~1500 Hz).
_LABIAL, _ALVEOLAR, _VELAR = (
    (300.0, 900.0, 2200.0),
    (300.0, 1800.0, 2700.0),
    (300.0, 1500.0, 2300.0),
)
PHONES: dict[str, Phone] = {
    "EH": Phone(140, (530, 1840, 2480), 1.0),
    "AH": Phone(150, (640, 1190, 2390), 1.0),
    "AA": Phone(160, (730, 1090, 2440), 1.0),
    "AO": Phone(170, (570, 840, 2410), 1.0),
    "OW": Phone(120, (500, 900, 2400), 1.0),  # /oʊ/ starts here ...
    "UH": Phone(90, (440, 1020, 2240), 1.0),  # ... and glides to /ʊ/ (also the end of /aʊ/)
    "IH": Phone(90, (390, 1990, 2550), 0.9),  # the end of /aɪ/
    "Y": Phone(60, (260, 2200, 3000), 0.7),
    "L": Phone(70, (380, 950, 2650), 0.6),
    "R": Phone(80, (420, 1300, 1600), 0.7),  # the low F3 is what makes an /r/
    "N": Phone(90, (250, 1450, 2600), 0.35),  # nasal murmur: weak, low first formant
    "S": Phone(130, _ALVEOLAR, 0.0, 0.3, (4000, 7800)),
    "F": Phone(120, _LABIAL, 0.0, 0.08, (1200, 7800)),
    "P-": Phone(70, _LABIAL, 0.0),  # closures: silence (voiceless) or a voice bar (voiced)
    "T-": Phone(55, _ALVEOLAR, 0.0),
    "D-": Phone(50, _ALVEOLAR, 0.12),
    "G-": Phone(45, _VELAR, 0.12),
    "P+": Phone(12, _LABIAL, 0.0, 0.5, (300, 2500)),  # releases: a burst at the place's band
    "T+": Phone(14, _ALVEOLAR, 0.0, 0.8, (2800, 7000)),
    "D+": Phone(10, _ALVEOLAR, 0.3, 0.5, (2500, 6000)),
    "G+": Phone(15, _VELAR, 0.3, 0.6, (1200, 2800)),
    "HH": Phone(40, (600, 1300, 2400), 0.0, 0.35),  # aspiration after a voiceless release
}
WORDS: dict[str, tuple[str, ...]] = {
    "yes": ("Y", "EH", "S"),
    "no": ("N", "OW", "UH"),
    "up": ("AH", "P-", "P+", "HH"),
    "down": ("D-", "D+", "AA", "UH", "N"),
    "left": ("L", "EH", "F", "T-", "T+", "HH"),
    "right": ("R", "AA", "IH", "T-", "T+", "HH"),
    "on": ("AA", "N"),
    "off": ("AO", "F"),
    "stop": ("S", "T-", "T+", "AA", "P-", "P+", "HH"),
    "go": ("G-", "G+", "OW", "UH"),
}


@dataclass(frozen=True)
class Speaker:
    """What varies between talkers and between tokens of one talker."""

    f0: float  # mean fundamental in Hz
    tract: float  # formant scale: shorter vocal tracts have higher formants
    rate: float  # speaking rate relative to the reference durations
    tilt: float  # source roll-off: harmonic k has amplitude k**-tilt
    breath: float  # aspiration noise mixed into voicing
    bandwidth: float  # formant bandwidth scale
    rise: float  # pitch change over the word in octaves (< 0 a statement, > 0 a question)


def speaker(rng: np.random.Generator) -> Speaker:
    """A random talker, its vocal-tract length loosely following its pitch.

    Pitch spans half an octave (100-150 Hz), narrower than real talkers: the 128 ms STFT
    window resolves single harmonics, and at the quick profile's budget (16 clips a class,
    5 epochs) harmonics spread over 90-240 Hz swamped the formant pattern (test accuracy
    48-50 % against 61-78 %). Intonation still moves f0 by up to a third of an octave in a word.
    """
    f0 = float(np.exp(rng.uniform(np.log(100.0), np.log(150.0))))
    # Formants rise ~15 % per 2.67x in f0 (men to children), plus individual variation.
    tract = 1.0 + 0.15 * np.log(f0 / 90.0) / np.log(2.67) + float(rng.uniform(-0.04, 0.04))
    return Speaker(
        f0=f0,
        tract=float(tract),
        rate=float(np.exp(rng.uniform(np.log(0.9), np.log(1.12)))),
        tilt=float(rng.uniform(0.9, 1.3)),
        breath=float(rng.uniform(0.0, 0.1)),
        bandwidth=float(rng.uniform(0.9, 1.3)),
        rise=float(rng.uniform(-0.3, 0.15)),
    )


def _smooth(x: np.ndarray, frames: int) -> np.ndarray:
    """Moving Hann average over `frames` along axis 0, edges held: (t, ...) -> (t, ...)."""
    if frames < 2:
        return x
    kernel = np.hanning(frames + 2)[1:-1]
    kernel /= kernel.sum()
    pad = [(frames, frames)] + [(0, 0)] * (x.ndim - 1)
    return convolve_same(np.pad(x, pad, mode="edge"), kernel)[frames:-frames]


def _resonances(f: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Magnitude of a cascade of 2-pole resonators (unit gain at 0 Hz) at frequencies f.

    f: (...,); formants, bandwidths: (..., k), broadcast against f[..., None]. Returns (...).
    """
    ratio = f[..., None] / formants
    mag = 1.0 / np.sqrt((1.0 - ratio**2) ** 2 + (f[..., None] * bandwidths / formants**2) ** 2)
    return np.prod(mag, axis=-1)


def _tracks(
    phones: list[Phone], seconds: np.ndarray, talker: Speaker, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Frame-wise synthesis parameters (2 ms frames) of a phoneme sequence."""
    edges = np.round(np.cumsum(seconds) * SAMPLE_RATE / _HOP).astype(int)
    frames = int(edges[-1]) + 8  # a short tail for the last release to decay
    which = np.minimum(np.searchsorted(edges, np.arange(frames), side="right"), len(phones) - 1)
    jitter = rng.uniform(0.94, 1.06, (len(phones), 3))  # one token is never exactly on target
    formants = np.array([p.formants for p in phones]) * jitter * talker.tract
    voice = np.array([p.voice for p in phones])
    noise = np.array([p.noise for p in phones])
    aspirated = np.array([p.band is None and p.noise > 0 for p in phones], dtype=float)
    band = np.array([p.band or (1.0, _MAX_HZ) for p in phones]) * np.array([talker.tract, 1.0])
    end = np.arange(frames) >= edges[-1]
    f = _smooth(formants[which], 14)  # ~30 ms of coarticulation
    v = _smooth(np.where(end, 0.0, voice[which]), 4)
    nz = np.where(end, 0.0, noise[which])
    return {
        "formants": f,
        "voice": v,
        "band_noise": _smooth(nz * (1 - aspirated[which]), 3),
        "aspiration": _smooth(nz * aspirated[which], 3),
        "band": band[which],
    }


def _voiced(tracks: dict[str, np.ndarray], talker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """Harmonics of a gliding f0, each weighted by the formant envelope: (frames * _HOP,)."""
    frames = len(tracks["voice"])
    n = frames * _HOP
    where = np.linspace(0.0, 1.0, frames)
    # Declination or question rise, plus a slow random wobble of ~1.5 %.
    wobble = np.interp(where, np.linspace(0, 1, 6), rng.uniform(-0.015, 0.015, 6))
    f0_frames = talker.f0 * 2.0 ** (talker.rise * where + wobble)
    t = (np.arange(n) + 0.5) / _HOP - 0.5
    f0 = np.interp(t, np.arange(frames), f0_frames)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    bandwidths = np.array([80.0, 100.0, 150.0, 200.0, 250.0]) * talker.bandwidth
    higher = np.array([3500.0, 4500.0]) * talker.tract
    formants = np.concatenate([tracks["formants"], np.broadcast_to(higher, (frames, 2))], axis=1)
    count = int(_MAX_HZ // f0_frames.min())
    k = np.arange(1, count + 1)[:, None]  # (count, 1)
    freq = k * f0_frames[None, :]  # (count, frames)
    amp = _resonances(freq, formants[None], bandwidths) * k**-talker.tilt
    amp *= (freq < _MAX_HZ) * tracks["voice"][None, :]
    i = np.clip(t, 0, frames - 1)
    lo = np.minimum(i.astype(int), frames - 2)
    w = i - lo
    out = np.zeros(n)
    for h in range(count):  # one harmonic at a time keeps memory at (n,) for long words
        a = amp[h, lo] * (1 - w) + amp[h, lo + 1] * w
        out += a * np.sin((h + 1) * phase + rng.uniform(0, 2 * np.pi))
    return out


def _noise(tracks: dict[str, np.ndarray], talker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """Frication, bursts and aspiration: noise shaped frame by frame: (frames * _HOP,)."""
    frames = len(tracks["voice"])
    bandwidths = np.array([120.0, 150.0, 200.0]) * talker.bandwidth

    def gain(times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        i = np.clip(np.round(times[:, 0] * SAMPLE_RATE / _HOP).astype(int), 0, frames - 1)
        live = (times[:, 0] >= 0) & (times[:, 0] * SAMPLE_RATE < frames * _HOP)
        f = np.broadcast_to(freqs, (len(i), freqs.shape[1]))
        low, high = tracks["band"][i, :1], tracks["band"][i, 1:]
        band = 1.0 / np.sqrt(1 + (low / np.maximum(f, 1.0)) ** 8) / np.sqrt(1 + (f / high) ** 8)
        tract = _resonances(f, tracks["formants"][i][:, None, :], bandwidths) / 4.0
        breathy = tracks["aspiration"][i] + talker.breath * tracks["voice"][i]
        return live[:, None] * (tracks["band_noise"][i, None] * band + breathy[:, None] * tract)

    return shaped_noise(rng, frames * _HOP, gain, n_fft=256, hop=64)


def word(label: str, rng: np.random.Generator) -> np.ndarray:
    """One token of keyword `label` by a random speaker, at 16 kHz: (m,), peak 0.9."""
    if label not in WORDS:
        raise ClarError(f"unknown keyword {label!r}; choose one of {', '.join(CLASSES)}")
    talker = speaker(rng)
    phones = [PHONES[name] for name in WORDS[label]]
    seconds = np.array([p.ms for p in phones]) / 1000.0 / talker.rate
    seconds *= rng.uniform(0.85, 1.15, len(phones))
    tracks = _tracks(phones, seconds, talker, rng)
    voiced = _voiced(tracks, talker, rng)
    noise = _noise(tracks, talker, rng)
    # Scale so a vowel's voicing has unit RMS, whatever the pitch, tilt and bandwidths. The
    # threshold lies between voicing levels (1.0, /IH/ 0.9, /Y/ /R/ 0.7): at a level itself,
    # a smoothed plateau's last bit would decide which side it falls.
    vowel = voiced[tracks["voice"].repeat(_HOP) > 0.85]
    level = np.sqrt(np.mean(vowel**2)) if len(vowel) else 1.0
    audio = voiced / level + noise * 4.0
    return 0.9 * audio / (np.max(np.abs(audio)) + 1e-12)


def synthesize(
    label: str, rng: np.random.Generator, clip_seconds: float = CLIP_SECONDS
) -> np.ndarray:
    """One utterance of keyword `label` in a clip: float64 (round(clip_seconds * 16000),).

    The word starts at a random point that keeps it inside the clip where it fits (longer words
    are cut on the right, as Speech Commands clips sometimes are).
    """
    n = round(clip_seconds * SAMPLE_RATE)
    spoken = word(label, rng)
    onset = int(rng.uniform(0.0, 1.0) * max(0, n - len(spoken)))
    audio = place(spoken, n, onset)
    audio = random_eq(audio, rng, max_tilt_db=3.0)
    audio = add_noise(audio, rng, float(rng.uniform(20.0, 40.0)))
    return normalise(audio, rng, -6.0, -1.0)
