"""The time-frequency features against an independent numpy computation of the same definition."""

import numpy as np
import pytest
import torch

from clar.features import TimeFrequency, log_frequencies

pytestmark = pytest.mark.numeric

RATE = 16000


def numpy_stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred, reflect-padded STFT with a periodic Hann window: [T] -> [n_fft//2+1, frames]."""
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    stack = np.stack([padded[i * hop : i * hop + n_fft] * window for i in range(frames)], axis=1)
    return np.fft.rfft(stack, axis=0)


def numpy_htk_mel(n_freqs: int, f_min: float, f_max: float, n_mels: int) -> np.ndarray:
    """HTK mel triangles, unnormalised: [n_freqs, n_mels]."""

    def to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    points = to_hz(np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2))
    freqs = np.linspace(0, RATE / 2, n_freqs)
    bank = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        lo, centre, hi = points[m], points[m + 1], points[m + 2]
        up = (freqs - lo) / (centre - lo)
        down = (hi - freqs) / (hi - centre)
        bank[:, m] = np.maximum(0, np.minimum(up, down))
    return bank


def numpy_log_bank(n_freqs: int, f_min: float, f_max: float, n_bins: int) -> np.ndarray:
    """The documented log-frequency bands: triangles between neighbouring log-spaced centres,
    at least one FFT bin wide on each side, each normalised to unit sum."""
    centres = f_min * (f_max / f_min) ** (np.arange(n_bins) / (n_bins - 1))
    ratio = (f_max / f_min) ** (1 / (n_bins - 1))
    spacing = RATE / 2 / (n_freqs - 1)
    freqs = np.linspace(0, RATE / 2, n_freqs)
    bank = np.zeros((n_freqs, n_bins))
    for k, c in enumerate(centres):
        below = centres[k - 1] if k > 0 else c / ratio
        above = centres[k + 1] if k < n_bins - 1 else c * ratio
        lo, hi = min(below, c - spacing), max(above, c + spacing)
        tri = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
        bank[:, k] = tri / tri.sum()
    return bank


def to_db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(power, 1e-10))


@pytest.mark.parametrize("window_ms", [128.0, 16.0])
def test_features_match_numpy(window_ms):
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    clip = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(RATE)).astype(np.float32)
    module = TimeFrequency(RATE, window_ms=window_ms, hop_ms=8.0, n_bins=128, f_min=40, f_max=8000)
    got = module(torch.from_numpy(clip)[None]).numpy()[0]

    n_fft = round(RATE * window_ms / 1000)
    spec = numpy_stft(clip.astype(np.float64), n_fft, 128)
    power = np.abs(spec) ** 2
    n_freqs = n_fft // 2 + 1
    assert got.shape == (3, 128, spec.shape[1])
    np.testing.assert_allclose(
        got[0], to_db(numpy_log_bank(n_freqs, 40, 8000, 128).T @ power), atol=2e-2
    )
    np.testing.assert_allclose(
        got[2], to_db(numpy_htk_mel(n_freqs, 40, 8000, 128).T @ power), atol=2e-2
    )
    centres = 40 * 200 ** (np.arange(128) / 127)
    nearest = np.minimum(np.round(centres / (RATE / n_fft)).astype(int), n_freqs - 1)
    expected_phase = np.angle(spec[nearest])
    # Compare angles on the circle: +pi and -pi are the same phase.
    loud = power[nearest] > 1e-3
    diff = np.angle(np.exp(1j * (got[1] - expected_phase)))
    assert np.abs(diff[loud]).max() < 1e-2


def test_official_shape_and_tone_lands_in_its_band():
    """A 1 s clip gives 3 x 128 x 126 (docs/method.md); a 1 kHz tone peaks in the band nearest
    1 kHz."""
    t = torch.arange(RATE) / RATE
    tone = 0.5 * torch.sin(2 * torch.pi * 1000 * t)
    feats = TimeFrequency()(tone[None])
    assert feats.shape == (1, 3, 128, 126)
    band = int(torch.argmin((log_frequencies(40, 8000, 128) - 1000).abs()))
    assert abs(int(feats[0, 0].mean(dim=1).argmax()) - band) <= 1
    assert torch.isfinite(feats).all()


def test_channel_selection_and_batch_independence(float64):
    # In float64: a batched FFT and a single one may sum in other orders, which float32 rounding
    # would show at ~1e-5 dB, differently on each CPU.
    clips = torch.randn(4, 8000) * 0.1
    both = TimeFrequency(channels=("log_mel", "log_stft"))(clips)
    assert both.shape[:2] == (4, 2) and both.dtype == torch.float64
    alone = TimeFrequency(channels=("log_mel",))(clips[2:3])
    torch.testing.assert_close(both[2:3, :1], alone, atol=1e-9, rtol=0)


def test_float64_waveform_is_analysed_in_float64():
    """The stored features' path: a float64 clip, analysed with the module's own window and
    filterbanks, matches numpy's float64 computation to ~1e-10 dB (a float32 step anywhere
    would leave ~1e-5 dB, as the float32 path does)."""
    rng = np.random.default_rng(1)
    clip = 0.2 * rng.standard_normal(RATE // 2)
    module = TimeFrequency(RATE)
    got = module(torch.from_numpy(clip)[None]).numpy()[0]
    assert got.dtype == np.float64

    window = module.window.double().numpy()
    padded = np.pad(clip, 1024, mode="reflect")
    starts = range(0, len(padded) - 2048 + 1, 128)
    spec = np.fft.rfft(np.stack([padded[s : s + 2048] * window for s in starts], axis=1), axis=0)
    power = np.abs(spec) ** 2
    log_stft = to_db(module.log_fbanks.double().numpy().T @ power)
    log_mel = to_db(module.mel_fbanks.double().numpy().T @ power)
    phase = np.angle(spec[module.phase_bins.numpy()])
    np.testing.assert_allclose(got[0], log_stft, atol=1e-9, rtol=0)
    np.testing.assert_allclose(got[2], log_mel, atol=1e-9, rtol=0)
    np.testing.assert_allclose(np.angle(np.exp(1j * (got[1] - phase))), 0.0, atol=1e-9)


def test_mel_filterbank_is_torchaudios_in_float64():
    import torchaudio.functional as AF

    from clar.features import mel_fbanks

    ours = mel_fbanks(1025, 40.0, 8000.0, 128, RATE)
    theirs = AF.melscale_fbanks(1025, 40.0, 8000.0, 128, RATE, norm=None, mel_scale="htk")
    assert ours.dtype == torch.float64
    # torchaudio computes in float32: mel points near 8 kHz carry ~1e-5 of rounding.
    torch.testing.assert_close(ours.float(), theirs, atol=5e-5, rtol=0)
