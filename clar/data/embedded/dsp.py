"""The small DSP helpers the generators share. Arrays are float64 mono, shape (n,).

A generated clip must have the same bytes on every x86-64 CPU, so synthesis stays in float64
from start to end and is rounded once, to int16 (:func:`to_pcm`). numpy's exp, log and power
(and the BLAS dot product behind ``np.convolve``) take different SIMD paths on AVX2 and AVX-512
machines and can differ in the last bit; in float64 that is ~1e-16 of full scale, which moves an
int16 sample only when it lies that close to a rounding boundary. A float32 step in between
would round at ~6e-8 instead, and turned those last-bit differences into different clips.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clar import noise

SAMPLE_RATE = 16000
PCM_FULL_SCALE = 32767.0


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Cut on the right or zero-pad on the right to exactly n samples."""
    if len(x) >= n:
        return x[:n]
    return np.pad(x, (0, n - len(x)))


def place(x: np.ndarray, n: int, offset: int) -> np.ndarray:
    """x put at sample `offset` of a silent (n,) buffer, cut where it runs past the end."""
    out = np.zeros(n)
    offset = max(0, int(offset))
    if offset < n:
        seg = x[: n - offset]
        out[offset : offset + len(seg)] = seg
    return out


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by FFT (the signal is zero-padded so it does not wrap around).

    x: (n,) -> (round(n * rate_out / rate_in),).
    """
    if rate_in == rate_out:
        return x.astype(np.float64)
    n_out = round(len(x) * rate_out / rate_in)
    pad = len(x) // 8 + 64
    padded = np.pad(x.astype(np.float64), (0, pad))
    m_out = round(len(padded) * rate_out / rate_in)
    spectrum = np.fft.rfft(padded)
    keep = min(len(spectrum), m_out // 2 + 1)
    y = np.fft.irfft(spectrum[:keep], n=m_out) * (m_out / len(padded))
    return y[:n_out]


def coloured_noise(rng: np.random.Generator, n: int, exponent: float = 0.0) -> np.ndarray:
    """(n,) noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit
    RMS, drawn from ``rng`` (see :func:`clar.noise.coloured_noise`)."""
    return noise.coloured_noise(rng.standard_normal(n), exponent, SAMPLE_RATE)


def spectral_filter(x: np.ndarray, response: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Zero-phase filtering: multiply the spectrum by response(frequencies in Hz). x: (n,)."""
    spectrum = np.fft.rfft(x)
    spectrum *= response(np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE))
    return np.fft.irfft(spectrum, n=len(x))


def shaped_noise(
    rng: np.random.Generator,
    n: int,
    gain: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_fft: int = 512,
    hop: int = 128,
) -> np.ndarray:
    """White noise with a time-varying spectral envelope, via STFT: (n,).

    gain(times (frames, 1) in s, freqs (1, bins) in Hz) -> magnitude (frames, bins). Hann
    analysis windows overlap-add back to a constant gain of n_fft / (2 hop) (hop <= n_fft / 4),
    which is divided out.
    """
    noise = rng.standard_normal(n + 2 * n_fft)
    window = np.hanning(n_fft + 1)[:-1]
    frames = 1 + (len(noise) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.fft.rfft(noise[idx] * window, axis=1)
    times = ((np.arange(frames) * hop + n_fft / 2 - n_fft) / SAMPLE_RATE)[:, None]
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)[None, :]
    spec *= gain(times, freqs)
    out = np.zeros(len(noise))
    np.add.at(out, idx, np.fft.irfft(spec, n=n_fft, axis=1))
    return out[n_fft : n_fft + n] / (2.0 * n_fft / (4 * hop))


def bandpass(x: np.ndarray, low: float, high: float, order: float = 2.0) -> np.ndarray:
    """A smooth band-pass (Butterworth-like magnitude, zero phase) between low and high Hz."""

    def response(f: np.ndarray) -> np.ndarray:
        hp = 1.0 / np.sqrt(1.0 + (low / np.maximum(f, 1e-3)) ** (2 * order)) if low > 0 else 1.0
        lp = 1.0 / np.sqrt(1.0 + (f / high) ** (2 * order))
        return hp * lp

    return spectral_filter(x, response)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def add_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Add background noise of random colour at snr_db (relative to x's RMS over its active part).

    The RMS of the signal is measured where it is louder than -40 dB of its peak, so a short word
    in a long clip gets the SNR a listener would hear.
    """
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak <= 0:
        return x
    active = x[np.abs(x) > peak * 0.01]
    background = coloured_noise(rng, len(x), float(rng.uniform(0.0, 2.0)))
    return x + background * rms(active) * 10.0 ** (-snr_db / 20.0)


def random_eq(x: np.ndarray, rng: np.random.Generator, max_tilt_db: float = 6.0) -> np.ndarray:
    """A random gentle spectral tilt (dB per octave around 1 kHz) plus a random low-pass: the
    "different microphone, different room" variation that keeps classes from being too clean."""
    tilt = float(rng.uniform(-max_tilt_db, max_tilt_db)) / 2.0
    cutoff = float(np.exp(rng.uniform(np.log(2500.0), np.log(9000.0))))

    def response(f: np.ndarray) -> np.ndarray:
        octaves = np.log2(np.maximum(f, 20.0) / 1000.0)
        return 10.0 ** (tilt * octaves / 20.0) / np.sqrt(1.0 + (f / cutoff) ** 4)

    return spectral_filter(x, response)


def normalise(
    x: np.ndarray, rng: np.random.Generator, low_db: float = -18.0, high_db: float = -1.0
) -> np.ndarray:
    """Scale to a random peak level in [low_db, high_db] dBFS; peak <= 1."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if not peak > 0:
        return x.astype(np.float64)
    target = 10.0 ** (float(rng.uniform(low_db, high_db)) / 20.0)
    return np.clip(x * (target / peak), -1.0, 1.0)


def convolve_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``np.convolve(x, kernel, mode="same")`` along axis 0 of x, as one multiply and one add
    per tap in a fixed order. np.convolve runs on the BLAS dot product, whose summation order
    (so its last bit) depends on the CPU's kernel; a smoothed plateau then lands on either side
    of a threshold. x: (n, ...) -> (max(n, len(kernel)), ...)."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    n, m = len(x), len(kernel)
    full = np.zeros((n + m - 1, *x.shape[1:]))
    for k, tap in enumerate(kernel):
        full[k : k + n] += tap * x
    start = (min(n, m) - 1) // 2
    return full[start : start + max(n, m)]


def to_pcm(x: np.ndarray) -> np.ndarray:
    """The one rounding of a generated clip: float in [-1, 1] -> int16 at 32767 per unit (as
    libsndfile writes floats to PCM-16). Clipping, scaling and rounding to nearest even are
    exact IEEE operations, the same on every CPU. x: (n,) -> (n,) int16."""
    scaled = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0) * PCM_FULL_SCALE
    return np.rint(scaled).astype(np.int16)
