"""The 10 Speech Commands keywords spoken by espeak-ng (the espeakng-loader wheel, GPL-3.0+).

espeak-ng is driven through ctypes. Voice (English accent x voice variant), speaking rate, pitch,
pitch range, intonation, onset, colouring, level and background noise vary per clip.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from clar.data.embedded.dsp import (
    SAMPLE_RATE,
    add_noise,
    normalise,
    place,
    random_eq,
    resample,
)
from clar.errors import ClarError

CLIP_SECONDS = 1.0
CLASSES: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

# English accents of espeak-ng and voice variants (files in espeak-ng-data/voices/!v); variants
# missing from an installed espeak-ng are skipped. "" is the accent's own voice.
ACCENTS = (
    "en",
    "en-us",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
_VARIANT_NAMES = """
m1 m2 m3 m4 m5 m6 m7 f1 f2 f3 f4 f5 klatt klatt2 klatt3 Alex Andy Annie adam antonio aunty
belinda benjamin boris caleb david ed edward grandma grandpa iven john linda max michel norbert
paul pedro quincy rob robert steph travis victor whisper zac
"""
VARIANTS = ("", *_VARIANT_NAMES.split())

# espeak-ng's C API (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.Lock()


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ClarError("the speech data set needs the espeakng-loader package") from exc
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


@lru_cache(maxsize=1)
def voices() -> tuple[str, ...]:
    """Every voice name used, "accent" or "accent+variant", in a fixed order."""
    data = Path(_paths()[1])
    present = [v for v in VARIANTS if v == "" or (data / "voices" / "!v" / v).is_file()]
    return tuple(a if v == "" else f"{a}+{v}" for a in ACCENTS for v in present)


def speak(
    text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Synthesise text with espeak-ng: (int16 samples (n,), sample rate, 22050 Hz).

    rate is in words per minute (80-450), pitch and pitch_range in 0-100; seed feeds the
    random breath/noise sources of some voices.

    espeak-ng keeps static state between utterances (the pitch-flutter phase among others)
    that Terminate/Initialize does not reset, so the same call gives slightly different audio
    depending on what was spoken before. The library is therefore loaded afresh for every
    utterance and unloaded afterwards (about 4 ms), which makes the output a function of the
    arguments alone, provided nothing else in the process holds libespeak-ng open.
    """
    import _ctypes

    lib_path, data_path = _paths()
    chunks: list[np.ndarray] = []

    def collect(wav: ctypes._Pointer, count: int, _events: int) -> int:
        if count > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    callback = _CALLBACK(collect)
    with _LOCK:
        lib = ctypes.CDLL(lib_path)
        initialised = False
        try:
            lib.espeak_Initialize.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
            ]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            sample_rate = lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
            )
            if sample_rate <= 0:
                raise ClarError(f"espeak-ng failed to initialise with data at {data_path}")
            initialised = True
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ClarError(f"espeak-ng has no voice {voice!r}")
            for parameter, value in (
                (_RATE, rate),
                (_PITCH, pitch),
                (_RANGE, pitch_range),
                (_VOLUME, 100),
            ):
                lib.espeak_SetParameter(parameter, int(value), 0)
            lib.espeak_ng_SetRandSeed(int(seed))
            _seed_libc(seed)  # some voices draw their breath noise from libc rand()
            encoded = text.encode("utf-8")
            status = lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != 0:
                raise ClarError(f"espeak-ng failed to speak {text!r} (status {status})")
        finally:
            if initialised:
                lib.espeak_Terminate()
            _ctypes.dlclose(lib._handle)
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return audio.astype(np.int16), int(sample_rate)


def _seed_libc(seed: int) -> None:
    with contextlib.suppress(OSError, AttributeError, TypeError):  # no libc (Windows)
        ctypes.CDLL(None).srand(ctypes.c_uint(seed & 0xFFFFFFFF))


def _trim(x: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Cut leading and trailing samples quieter than threshold x peak. x: (n,) -> (m,)."""
    loud = np.nonzero(np.abs(x) > threshold * (np.max(np.abs(x)) if len(x) else 0.0))[0]
    return x[loud[0] : loud[-1] + 1] if len(loud) else x[:0]


def word(label: str, rng: np.random.Generator) -> np.ndarray:
    """The keyword alone, trimmed of silence, at 16 kHz: float32 (m,), peak below 1."""
    if label not in CLASSES:
        raise ClarError(f"unknown keyword {label!r}; choose one of {', '.join(CLASSES)}")
    names = voices()
    voice = names[int(rng.integers(len(names)))]
    text = label + str(rng.choice(["", ".", "!", "?"]))  # punctuation changes the intonation
    samples, rate = speak(
        text,
        voice,
        rate=int(rng.integers(80, 201)),
        pitch=int(rng.integers(15, 86)),
        pitch_range=int(rng.integers(5, 96)),
        seed=int(rng.integers(2**31)),
    )
    audio = _trim(samples.astype(np.float32) / 32768.0)
    return resample(audio, rate, SAMPLE_RATE)


def synthesize(
    label: str, rng: np.random.Generator, clip_seconds: float = CLIP_SECONDS
) -> np.ndarray:
    """One utterance of keyword `label` in a clip: float32 (round(clip_seconds * 16000),).

    The word starts at a random point that keeps it inside the clip where it fits (longer words
    are cut on the right, as Speech Commands clips sometimes are).
    """
    n = round(clip_seconds * SAMPLE_RATE)
    spoken = word(label, rng)
    onset = int(rng.uniform(0.0, 1.0) * max(0, n - len(spoken)))
    audio = place(spoken, n, onset)
    audio = random_eq(audio, rng)
    audio = add_noise(audio, rng, float(rng.uniform(3.0, 30.0)))
    return normalise(audio, rng, -24.0, -1.0)
