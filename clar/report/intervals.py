"""Paired 95 % intervals of a difference between two methods, in percentage points.

Accuracy differences are resampled from per-clip outcomes: ``d[s, i]`` is method A's minus
method B's correctness (-1, 0 or 1) on test clip ``i`` for seed ``s``. The two runs of a seed are
paired (the same seed means the same labelled subset and the same test clips), so the clip-level
noise the two share cancels. With one seed the interval is a percentile bootstrap over clips
(:func:`scipy.stats.bootstrap`); with several it resamples seeds, then clips
(:func:`two_level`). Differences measured once per seed with no clips to resample (the area under
a training curve) get a Student t interval over seeds (:func:`over_seeds`).

The bootstrap's generator is seeded with a constant, fresh for every interval, so a report is
identical from one render to the next and an interval does not depend on which other intervals
were computed before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 4000
BOOTSTRAP_SEED = 20210  # any constant: it makes the reports deterministic
_BLOCK = 500


@dataclass(frozen=True)
class Interval:
    """A difference (A − B) in percentage points, its 95 % interval, and what it rests on."""

    diff: float  # the point estimate: mean over seeds of the per-seed difference
    low: float
    high: float
    seeds: int
    clips: int  # test clips per seed; 0 where the interval is over seeds only

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def format(self, unit: str = "points") -> str:
        """``+5.2 points (95 % CI +1.1 to +9.0; 3 seeds × 160 test clips)``."""
        return f"{signed(self.diff)} {unit} ({self.bounds()}; {self.sample()})"

    def bounds(self) -> str:
        return f"95 % CI {signed(self.low)} to {signed(self.high)}"

    def sample(self) -> str:
        seeds = f"{self.seeds} seed{'s' if self.seeds != 1 else ''}"
        return f"{seeds} × {self.clips} test clips" if self.clips else seeds

    def cell(self) -> str:
        """The table form: ``+5.2 [+1.1, +9.0]``."""
        return f"{signed(self.diff)} [{signed(self.low)}, {signed(self.high)}]"


def signed(value: float) -> str:
    """A signed number with one decimal and a real minus sign."""
    return f"{value:+.1f}".replace("-", "−")


def _rng() -> np.random.Generator:
    return np.random.default_rng(BOOTSTRAP_SEED)


def one_level(d: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the mean of per-clip differences ``d`` ``[N]``."""
    if np.all(d == d[0]):
        # Every clip gives the same difference: no resample can move the mean (scipy would
        # warn and return NaN).
        return float(d[0]), float(d[0])
    result = stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=_rng(),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def two_level(d: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the mean of ``d`` ``[S, N]``: seeds resampled, then clips.

    scipy's bootstrap resamples the observations of one level only, so the two levels are
    written here. Every seed scored the same test clips, so the clips are crossed with the
    seeds, not nested in them: one resample of clips serves all the seeds of a replicate, which
    keeps the correlation of a hard clip across seeds. Replicates are computed together as
    array operations (seed weights ``[R, S]`` times ``d``, then a gather of ``[R, N]`` clip
    indices) rather than in a Python loop of ``RESAMPLES`` iterations.
    """
    rng = _rng()
    n_seeds, n_clips = d.shape
    replicates = []
    # Blocks of replicates bound the memory ([block, N] arrays) on test splits of thousands.
    for start in range(0, RESAMPLES, _BLOCK):
        size = min(_BLOCK, RESAMPLES - start)
        drawn = rng.integers(0, n_seeds, size=(size, n_seeds))
        weights = (drawn[:, :, None] == np.arange(n_seeds)).mean(axis=1)  # [R, S]
        per_clip = weights @ d  # [R, N]: each replicate's seed-mean difference on every clip
        clips = rng.integers(0, n_clips, size=(size, n_clips))
        replicates.append(np.take_along_axis(per_clip, clips, axis=1).mean(axis=1))
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(np.concatenate(replicates), [alpha, 1 - alpha])
    return float(low), float(high)


def paired(d: np.ndarray) -> Interval:
    """The interval of ``mean(d)`` in points, ``d`` ``[S, N]`` per-seed per-clip differences
    of correctness (or any paired per-clip score)."""
    d = np.asarray(d, dtype=float)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"expected a non-empty [seeds, clips] array, got shape {d.shape}")
    low, high = one_level(d[0]) if len(d) == 1 else two_level(d)
    return Interval(100 * float(d.mean()), 100 * low, 100 * high, d.shape[0], d.shape[1])


def over_seeds(values: np.ndarray) -> Interval | None:
    """The Student t interval of the mean of per-seed differences ``values`` (already in
    points); None for fewer than two seeds.

    A bootstrap over three seeds can never be wider than their range, and badly under-covers;
    the t interval is the honest one for a handful of values.
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    mean = float(values.mean())
    sem = float(values.std(ddof=1)) / math.sqrt(len(values))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df=len(values) - 1) * sem)
    return Interval(mean, mean - half, mean + half, len(values), 0)
