"""Coloured noise, one implementation: the noise augmentation adds it to training views, and the
generated stand-in data sets mix it into their recordings."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def coloured_noise(white: Array, exponent: float | Array, sample_rate: int = 16000) -> Array:
    """White noise shaped to a power spectrum ``~ 1/f**exponent`` (0 white, 1 pink with
    -3 dB/octave, 2 brown with -6 dB/octave), scaled to unit mean power per row.

    ``white``: ``[..., T]`` Gaussian noise, a numpy array (the stand-ins draw it from their
    clip's numpy generator) or a tensor on any device (the augmentation's generator);
    ``exponent``: a number or one per row, ``[...]``. The result has the type, dtype and device
    of ``white``. The shaping happens in the rFFT domain; the DC bin, where ``1/f`` diverges,
    keeps the lowest frequency's gain (as the ``colorednoise`` package does), so white noise
    stays exactly white.
    """
    n = white.shape[-1]
    if isinstance(white, torch.Tensor):
        fft = torch.fft
        freqs = torch.fft.rfftfreq(n, 1.0 / sample_rate, dtype=white.dtype, device=white.device)
        exponent = torch.as_tensor(exponent, dtype=white.dtype, device=white.device)
    else:
        fft = np.fft
        freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
        exponent = np.asarray(exponent)
    freqs[0] = freqs[1] if n > 1 else 1.0
    spectrum = fft.rfft(white) * freqs ** (-exponent[..., None] / 2.0)
    shaped = fft.irfft(spectrum, n=n)
    return shaped / ((shaped**2).mean(-1, keepdims=True) ** 0.5 + 1e-12)
