"""Paired 95 % intervals of a difference between two methods, in percentage points.

Accuracy differences come from per-clip outcomes: ``d[s, i]`` is method A's minus method B's
correctness (-1, 0 or 1) on test clip ``i`` for seed ``s``. The two runs of a seed are paired
(the same seed means the same labelled subset and the same test clips), so the noise the two
share cancels.

With several seeds the interval is a Student t interval over the per-seed differences
``mean(d[s])`` (:func:`over_seeds`), with S − 1 degrees of freedom. Why not a bootstrap: the
per-seed difference already holds the clip noise of that seed, and the seeds are independent
replicates of the whole training, so the t interval is exact for normal per-seed differences
whatever the split between seed and clip noise. A bootstrap over three seeds has at most ten
distinct seed resamples and a percentile interval over them cannot be wider than the seeds'
range: the former two-level bootstrap (:func:`two_level`, kept for the A/A benchmark,
:mod:`clar.report.aa`) excluded zero in 22 % of same-method comparisons, and in about 20 % of
the simulated ones of ``tests/test_report_calibration.py``, where the t interval stays near
5 %. The price is width: with three seeds the t quantile is 4.30, so only large or steady
differences are decided.

With one seed there is nothing to spread over, and the interval is a percentile bootstrap over
the clips (:func:`scipy.stats.bootstrap`): it measures clip noise only, and every interval of
one seed says so (:attr:`Interval.sample`).

Every interval carries the two-sided p-value of "no difference" from the same computation
(the t test, or the bootstrap distribution's tail), which the Holm step of a claim over many
comparisons uses (:mod:`clar.report.verdicts`).

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
T_OVER_SEEDS = "t over seeds"
CLIP_BOOTSTRAP = "bootstrap over clips"
# How the tables name the interval they show.
PAIRED = (
    "paired 95 % interval (runs paired by seed: a t interval over the per-seed differences, "
    "or with one seed a bootstrap over test clips)"
)


@dataclass(frozen=True)
class Interval:
    """A difference (A − B) in percentage points, its 95 % interval, and what it rests on."""

    diff: float  # the point estimate: mean over seeds of the per-seed difference
    low: float
    high: float
    seeds: int
    clips: int  # test clips per seed; 0 where the interval is over seeds only
    p: float = math.nan  # two-sided p-value of a zero difference; NaN: not computed
    method: str = ""  # T_OVER_SEEDS or CLIP_BOOTSTRAP

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


def one_level(d: np.ndarray) -> tuple[float, float, float]:
    """The percentile interval of the mean of per-clip differences ``d`` ``[N]`` and the
    two-sided p-value of zero read from the same bootstrap distribution."""
    if np.all(d == d[0]):
        # Every clip gives the same difference: no resample can move the mean (scipy would
        # warn and return NaN).
        return float(d[0]), float(d[0]), 1.0 if d[0] == 0 else 0.0
    result = stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=_rng(),
    )
    replicates = result.bootstrap_distribution
    # The percentile p-value: twice the smaller tail at zero, so that p < 0.05 exactly when the
    # 95 % percentile interval lies on one side of zero.
    p = min(1.0, 2 * min(float(np.mean(replicates <= 0)), float(np.mean(replicates >= 0))))
    return float(result.confidence_interval.low), float(result.confidence_interval.high), p


def two_level(d: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the mean of ``d`` ``[S, N]``: seeds resampled, then clips.

    The report's interval before the t interval over seeds; under-covers with a handful of
    seeds (module docstring). Kept so that the A/A benchmark and the calibration test can
    show by how much. Every seed scored the same test clips, so one resample of clips serves
    all the seeds of a replicate; replicates are computed together as array operations.
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
    of correctness (or any paired per-clip score): t over the seeds' means for S ≥ 2, a
    bootstrap over clips for one seed."""
    d = np.asarray(d, dtype=float)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"expected a non-empty [seeds, clips] array, got shape {d.shape}")
    if len(d) == 1:
        low, high, p = one_level(d[0])
        return Interval(
            100 * float(d.mean()), 100 * low, 100 * high, 1, d.shape[1], p, CLIP_BOOTSTRAP
        )
    return _t_interval(100 * d.mean(axis=1), d.shape[1])


def over_seeds(values: np.ndarray) -> Interval | None:
    """The Student t interval of the mean of per-seed differences ``values`` (already in
    points), with its t-test p-value; None for fewer than two seeds."""
    values = np.asarray(values, dtype=float)
    return _t_interval(values, 0) if len(values) >= 2 else None


def _t_interval(values: np.ndarray, clips: int) -> Interval:
    mean = float(values.mean())
    sem = float(stats.sem(values))
    if sem == 0:
        # Every seed gave the same difference: scipy's t interval would be NaN.
        p = 1.0 if mean == 0 else 0.0
        return Interval(mean, mean, mean, len(values), clips, p, T_OVER_SEEDS)
    low, high = stats.t.interval(CONFIDENCE, df=len(values) - 1, loc=mean, scale=sem)
    p = float(stats.ttest_1samp(values, 0.0).pvalue)
    return Interval(mean, float(low), float(high), len(values), clips, p, T_OVER_SEEDS)
