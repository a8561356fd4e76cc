"""Decoding and the paper's pre-processing: 16 kHz mono, padded or cut on the right."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from clar.errors import ClarError


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile and mix it down to mono.

    Returns ``(waveform [T] float32 in [-1, 1], sample_rate)``. An undecodable or empty file, or
    one with a NaN or infinite sample (a float WAV can hold them), raises :class:`ClarError`
    naming the file.
    """
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise ClarError(f"{path}: cannot decode ({err})") from None
    if data.shape[0] == 0:
        raise ClarError(f"{path}: the file holds no samples")
    # Stored as int16 they would silently become 0 (NaN) or full scale (inf).
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise ClarError(f"{path}: {bad} of {data.size} samples are NaN or infinite")
    return data.mean(axis=1), rate


@lru_cache(maxsize=8)
def _resampling_ratio(orig: int, new: int) -> tuple[int, int]:
    # torchaudio builds its sinc kernel from the reduced ratio; 44100 -> 16000 is 441:160.
    g = np.gcd(orig, new)
    return orig // g, new // g


def fix_length(waveform: torch.Tensor, samples: int) -> torch.Tensor:
    """Zero-pad or cut on the right to exactly ``samples``: ``[..., T] -> [..., samples]``."""
    length = waveform.shape[-1]
    if length >= samples:
        return waveform[..., :samples]
    return torch.nn.functional.pad(waveform, (0, samples - length))


def to_clip(waveform: np.ndarray, rate: int, target_rate: int, samples: int) -> torch.Tensor:
    """Resample a mono waveform ``[T]`` to ``target_rate`` and fix its length: ``-> [samples]``."""
    x = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    if rate != target_rate:
        orig, new = _resampling_ratio(rate, target_rate)
        x = AF.resample(x, orig, new)
    return fix_length(x, samples)
