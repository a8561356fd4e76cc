"""Ten procedurally synthesised environmental sounds (numpy only), standing in for ESC-10.

Every class is a randomised recipe: the noise classes (rain, sea waves, wind, crackling fire)
share shaped noise, the machine classes (engine, helicopter, chainsaw) share a harmonic pulse
train plus modulated noise, and clock ticks, fire crackles and rain drops are all short clicks,
so the classes overlap and a classifier has something to learn. A random background, colouring
and level are added on top.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clar.data.embedded.dsp import (
    SAMPLE_RATE,
    add_noise,
    bandpass,
    coloured_noise,
    convolve_same,
    normalise,
    random_eq,
    rms,
    shaped_noise,
)
from clar.errors import ClarError

CLIP_SECONDS = 2.0
SR = SAMPLE_RATE


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _smooth_random(rng: np.random.Generator, n: int, rate_hz: float) -> np.ndarray:
    """A slowly varying random curve in [0, 1]: random knots rate_hz apart, cosine-interpolated."""
    knots = max(2, int(np.ceil(n / SR * rate_hz)) + 2)
    values = rng.uniform(0.0, 1.0, knots)
    x = np.arange(n) / SR * rate_hz + rng.uniform(0.0, 1.0)
    i = np.minimum(np.floor(x).astype(int), knots - 2)
    frac = x - i
    w = 0.5 - 0.5 * np.cos(np.pi * frac)
    return values[i] * (1 - w) + values[i + 1] * w


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (rms(x) + 1e-12)


def _events(rng: np.random.Generator, n: int, rate_hz: float) -> np.ndarray:
    """Onset samples of a Poisson process with rate rate_hz over n samples."""
    count = int(rng.poisson(rate_hz * n / SR))
    return np.sort(rng.integers(0, n, count))


def _add_at(out: np.ndarray, at: int, x: np.ndarray) -> None:
    end = min(len(out), at + len(x))
    if at < end:
        out[at:end] += x[: end - at]


def _damped(rng: np.random.Generator, freq: float, decay_s: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / decay_s)


def _harmonic(f0: np.ndarray, amplitudes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sum of harmonics k*f0(t) (k = 1..len(amplitudes)), each dropped above 7.8 kHz. f0: (n,)."""
    phase = 2 * np.pi * np.cumsum(f0) / SR
    out = np.zeros(len(f0))
    for k, a in enumerate(amplitudes, start=1):
        alive = (k * f0) < 7800.0
        out += a * alive * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out


def _pulses(f0: np.ndarray, width: float, jitter: np.ndarray | None = None) -> np.ndarray:
    """A train of Gaussian bumps, one per cycle of f0(t), `width` of a cycle wide. f0: (n,)."""
    cycles = np.cumsum(f0) / SR
    if jitter is not None:
        cycles = cycles + jitter
    frac = cycles - np.round(cycles)
    return np.exp(-0.5 * (frac / width) ** 2)


# --- the ten classes -------------------------------------------------------------------------


def _rain(rng: np.random.Generator, n: int) -> np.ndarray:
    low, high = _loguniform(rng, 200, 1500), _loguniform(rng, 3000, 8000)
    hiss = _unit(bandpass(coloured_noise(rng, n, rng.uniform(0, 1)), low, high))
    hiss *= 0.7 + 0.6 * _smooth_random(rng, n, rng.uniform(0.5, 3))
    drops = np.zeros(n)
    for at in _events(rng, n, _loguniform(rng, 20, 400)):
        drop = _damped(rng, _loguniform(rng, 1200, 6000), _loguniform(rng, 0.001, 0.012), 0.05)
        _add_at(drops, int(at), drop * float(rng.lognormal(0, 0.7)))
    return hiss * rng.uniform(0.3, 1.0) + _unit(drops) * rng.uniform(0.2, 1.0)


def _sea_waves(rng: np.random.Generator, n: int) -> np.ndarray:
    period = rng.uniform(3.0, 9.0)
    t = np.arange(n) / SR
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    swell = swell ** rng.uniform(1.0, 3.0) * (1 - (floor := rng.uniform(0.1, 0.4))) + floor
    cutoff = _loguniform(rng, 300, 2000)
    body = _unit(bandpass(coloured_noise(rng, n, rng.uniform(1.0, 2.0)), 40, cutoff))
    # The breaking crest is brighter than the trough: a hiss that follows the swell squared.
    crest = _unit(bandpass(coloured_noise(rng, n, 0.5), 800, _loguniform(rng, 3000, 7000)))
    return body * swell + crest * swell**2 * rng.uniform(0.1, 0.7)


def _wind(rng: np.random.Generator, n: int) -> np.ndarray:
    centre0 = _loguniform(rng, 150, 1200)
    sweep = rng.uniform(0.3, 1.5)
    width = rng.uniform(0.25, 0.9)  # in natural-log units of frequency
    gust_rate = rng.uniform(0.3, 2.0)
    wander = _smooth_random(rng, n, gust_rate)
    gust = 0.3 + 0.7 * _smooth_random(rng, n, gust_rate)

    def gain(times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        k = np.clip((times * SR).astype(int), 0, n - 1)
        centre = centre0 * np.exp(sweep * (wander[k] - 0.5))
        bell = np.exp(-0.5 * (np.log(np.maximum(freqs, 20) / centre) / width) ** 2)
        return bell * gust[k]

    whoosh = _unit(shaped_noise(rng, n, gain))
    rumble = _unit(bandpass(coloured_noise(rng, n, 2.0), 20, 200)) * rng.uniform(0.0, 0.6)
    return whoosh + rumble


def _crackling_fire(rng: np.random.Generator, n: int) -> np.ndarray:
    roar = _unit(
        bandpass(coloured_noise(rng, n, rng.uniform(1.0, 2.0)), 30, _loguniform(rng, 300, 1500))
    )
    roar *= 0.6 + 0.4 * _smooth_random(rng, n, rng.uniform(1, 4))
    hiss = _unit(bandpass(coloured_noise(rng, n, 0.0), 2000, 7500)) * rng.uniform(0.0, 0.3)
    crackle = np.zeros(n)
    burstiness = _smooth_random(rng, n, rng.uniform(1, 5)) ** 2
    for at in _events(rng, n, _loguniform(rng, 8, 80)):
        if rng.uniform() > 0.3 + 0.7 * burstiness[at]:
            continue
        length = int(rng.uniform(0.0003, 0.004) * SR) + 4
        click = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 4))
        click = bandpass(
            np.pad(click, (0, 64)), _loguniform(rng, 300, 2000), _loguniform(rng, 3000, 7900)
        )
        _add_at(crackle, int(at), click * float(rng.pareto(2.5) + 0.2))
    return roar * rng.uniform(0.2, 0.8) + hiss + _unit(crackle) * rng.uniform(0.5, 1.2)


def _clock_tick(rng: np.random.Generator, n: int) -> np.ndarray:
    period = rng.uniform(0.25, 1.0)
    tones = [(_loguniform(rng, 1500, 6000), _loguniform(rng, 0.001, 0.008)) for _ in range(3)]
    tock_shift = rng.uniform(0.75, 1.0)  # the "tock" rings a little lower than the "tick"
    out = np.zeros(n)
    at = rng.uniform(0, min(period, n / SR / 2))  # at least one tick even in a short clip
    beat = 0
    while at < n / SR:
        shift = 1.0 if beat % 2 == 0 else tock_shift
        click = sum(
            _damped(rng, f * shift * rng.uniform(0.98, 1.02), d, 0.04) * rng.uniform(0.3, 1)
            for f, d in tones
        )
        noise = rng.standard_normal(40) * np.exp(-np.arange(40) / 8) * 0.5
        click[:40] += noise
        _add_at(out, int(at * SR), click * rng.uniform(0.7, 1.0))
        at += period * rng.uniform(0.98, 1.02)
        beat += 1
    return out


def _siren(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / SR
    low = _loguniform(rng, 450, 900)
    high = low * rng.uniform(1.3, 2.2)
    pattern = rng.integers(3)
    if pattern == 0:  # wail: slow rise and fall
        lfo = 0.5 - 0.5 * np.cos(2 * np.pi * t / rng.uniform(1.5, 5.0) + rng.uniform(0, 6.3))
    elif pattern == 1:  # yelp: fast rising sweeps
        lfo = np.mod(t / rng.uniform(0.12, 0.4) + rng.uniform(0, 1), 1.0)
    else:  # hi-lo: two alternating tones
        lfo = (np.mod(t / rng.uniform(0.8, 1.4) + rng.uniform(0, 1), 1.0) < 0.5).astype(float)
        lfo = convolve_same(lfo, np.ones(160) / 160)[: len(lfo)]
    f0 = low * (high / low) ** lfo * rng.uniform(0.97, 1.03)  # slight Doppler shift
    tilt = rng.uniform(0.7, 2.0)
    amps = np.array([k**-tilt for k in range(1, 9)]) * (rng.uniform(0.5, 1.0, 8))
    tone = _harmonic(f0, amps, rng)
    traffic = _unit(bandpass(coloured_noise(rng, n, 1.5), 30, 1500)) * rng.uniform(0.05, 0.5)
    return _unit(tone) + traffic


def _engine(rng: np.random.Generator, n: int) -> np.ndarray:
    rpm = _loguniform(rng, 700, 4500)
    cylinders = int(rng.choice([2, 4, 6, 8]))
    firing = rpm / 60 * cylinders / 2
    drift = 1 + rng.uniform(0.0, 0.25) * (_smooth_random(rng, n, rng.uniform(0.3, 1.5)) - 0.5)
    f0 = np.clip(firing * drift, 15, 400)
    jitter = np.cumsum(rng.standard_normal(n)) * rng.uniform(0, 2e-4)
    pulses = _pulses(f0, rng.uniform(0.05, 0.2), jitter)
    body = bandpass(pulses - pulses.mean(), 20, _loguniform(rng, 250, 1500))
    rough = _unit(bandpass(coloured_noise(rng, n, 1.0), 40, _loguniform(rng, 800, 4000)))
    return _unit(body) + rough * pulses * rng.uniform(0.2, 1.0)


def _helicopter(rng: np.random.Generator, n: int) -> np.ndarray:
    blade_rate = rng.uniform(9.0, 28.0)  # main rotor speed x number of blades
    f0 = np.full(n, blade_rate) * (1 + 0.02 * (_smooth_random(rng, n, 0.5) - 0.5))
    slaps = _pulses(f0, rng.uniform(0.04, 0.15))
    chop = _unit(
        bandpass(coloured_noise(rng, n, rng.uniform(0.5, 1.5)), 40, _loguniform(rng, 500, 3000))
    )
    rotor = chop * (0.15 + slaps)
    tail = _harmonic(
        np.full(n, blade_rate * rng.uniform(4.0, 7.0)), np.array([1.0, 0.6, 0.4, 0.25]), rng
    )
    whine = _harmonic(np.full(n, _loguniform(rng, 1000, 4000)), np.array([1.0]), rng)
    return _unit(rotor) + _unit(tail) * rng.uniform(0.1, 0.6) + _unit(whine) * rng.uniform(0.0, 0.2)


def _chainsaw(rng: np.random.Generator, n: int) -> np.ndarray:
    idle, cut = _loguniform(rng, 45, 90), _loguniform(rng, 110, 220)
    rev = _smooth_random(rng, n, rng.uniform(0.4, 2.0)) ** rng.uniform(0.5, 2.0)
    f0 = idle + (cut - idle) * rev
    amps = np.array([k ** -rng.uniform(0.4, 1.0) for k in range(1, 33)])
    buzz = _harmonic(f0, amps, rng)
    pulses = _pulses(f0, rng.uniform(0.1, 0.3))
    rasp = _unit(bandpass(coloured_noise(rng, n, 0.5), 300, _loguniform(rng, 2500, 7000)))
    load = 0.4 + 0.6 * rev
    return (_unit(buzz) + rasp * pulses * rng.uniform(0.3, 1.2)) * load


def _church_bell(rng: np.random.Generator, n: int) -> np.ndarray:
    prime = _loguniform(rng, 150, 700)
    # Partials of a tuned bell relative to the prime: hum, prime, tierce, quint, nominal, ...
    ratios = np.array([0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.2])
    ratios = ratios * rng.uniform(0.98, 1.02, len(ratios))
    out = np.zeros(n)
    later = rng.uniform(0.4, max(0.5, n / SR - 0.2), int(rng.integers(0, 3)))
    strikes = [0.0, *sorted(later)]
    start = rng.uniform(-0.5, 0.3)  # sometimes the clip opens on a bell already ringing
    for s in strikes:
        at = start + s
        t = np.arange(n) / SR - at
        on = t >= 0
        for r, a in zip(ratios, rng.uniform(0.3, 1.0, len(ratios)), strict=True):
            f = prime * r
            if f >= 7800:
                continue
            decay = rng.uniform(1.5, 4.0) / r**0.7
            beat = 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t)  # doublet beating
            out += on * a * beat * np.sin(2 * np.pi * f * t) * np.exp(-np.maximum(t, 0) / decay)
        clang_len = 200
        k = int(at * SR)
        if 0 <= k < n:
            _add_at(out, k, rng.standard_normal(clang_len) * np.exp(-np.arange(clang_len) / 30))
    return out


_RECIPES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "rain": _rain,
    "sea_waves": _sea_waves,
    "wind": _wind,
    "crackling_fire": _crackling_fire,
    "clock_tick": _clock_tick,
    "siren": _siren,
    "engine": _engine,
    "helicopter": _helicopter,
    "chainsaw": _chainsaw,
    "church_bell": _church_bell,
}
CLASSES: tuple[str, ...] = tuple(_RECIPES)


def synthesize(
    label: str, rng: np.random.Generator, clip_seconds: float = CLIP_SECONDS
) -> np.ndarray:
    """One clip of class `label`: float64 (round(clip_seconds * 16000),), peak <= 1."""
    if label not in _RECIPES:
        raise ClarError(
            f"unknown environmental sound {label!r}; choose one of {', '.join(CLASSES)}"
        )
    n = round(clip_seconds * SR)
    audio = _unit(np.asarray(_RECIPES[label](rng, n), dtype=np.float64)[:n])
    if rng.uniform() < 0.25:
        # Field recordings are rarely one source: another class in the background, 12-24 dB down.
        others = [c for c in CLASSES if c != label]
        other = others[int(rng.integers(len(others)))]
        background = _unit(np.asarray(_RECIPES[other](rng, n), dtype=np.float64)[:n])
        audio = audio + background * 10.0 ** (-float(rng.uniform(12.0, 24.0)) / 20.0)
    # A fade in and out of random length: sources come and go, as in field recordings.
    fade_in = int(rng.uniform(0.0, 0.15) * n)
    fade_out = int(rng.uniform(0.0, 0.15) * n)
    gain = np.ones(n)
    if fade_in:
        gain[:fade_in] = np.linspace(rng.uniform(0.0, 0.5), 1.0, fade_in)
    if fade_out:
        gain[n - fade_out :] = np.linspace(1.0, rng.uniform(0.0, 0.5), fade_out)
    audio = random_eq(audio * gain, rng, max_tilt_db=3.0)
    audio = add_noise(audio, rng, float(rng.uniform(15.0, 35.0)))
    return normalise(audio, rng, -9.0, -1.0)
