"""The report's intervals are calibrated: on simulated per-clip outcomes with realistic seed and
clip variation and no true difference, the 95 % interval excludes zero about 5 % of the time,
for the report's own pairing (two methods sharing a seed's labelled subset) and for the A/A
stress test (disjoint seeds, nothing shared); a real difference is still found; a claim over
many comparisons of no difference is rarely decided after Holm's correction.

The simulation: each cell has its own test clips, with a difficulty on the logit scale (a
spread of 1.5 around 1.0: clips from nearly always to nearly never right); each seed shifts
both methods alike (its labelled subset, 0.6), and each run shifts its own method (training
noise, 0.8: a run-to-run spread of about ±15 points, the size of the +21.7-point same-method
difference measured between seeds 0-2 and 3-5 of the quick profile). A clip is right with the
probability its logit gives.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from clar.report import intervals, verdicts

CLIPS = 160
CLIP_SPREAD, SEED_SPREAD, RUN_SPREAD = 1.5, 0.6, 0.8


def simulate(
    rng: np.random.Generator,
    cells: int,
    seeds: int = 3,
    effect: float = 0.0,
    shared: bool = True,
) -> np.ndarray:
    """``d[cell, seed, clip]``: method A's minus method B's correctness; A's logit is raised by
    ``effect``. ``shared``: the two methods of a seed share its labelled subset (the report);
    otherwise each has its own seed (the A/A between disjoint seed sets)."""
    clip = rng.normal(1.0, CLIP_SPREAD, (cells, 1, CLIPS))
    seed_a = rng.normal(0, SEED_SPREAD, (cells, seeds, 1))
    seed_b = seed_a if shared else rng.normal(0, SEED_SPREAD, (cells, seeds, 1))
    run_a, run_b = (rng.normal(0, RUN_SPREAD, (cells, seeds, 1)) for _ in range(2))
    a = rng.random((cells, seeds, CLIPS)) < expit(clip + seed_a + run_a + effect)
    b = rng.random((cells, seeds, CLIPS)) < expit(clip + seed_b + run_b)
    return a.astype(float) - b


def excluded(d: np.ndarray) -> float:
    """The share of cells whose 95 % interval (the report's) excludes zero."""
    return float(np.mean([intervals.paired(cell).excludes_zero() for cell in d]))


@pytest.mark.parametrize("shared", [True, False], ids=["shared subset", "disjoint seeds"])
def test_no_difference_is_excluded_about_one_time_in_twenty(shared: bool) -> None:
    rate = excluded(simulate(np.random.default_rng(11), 400, shared=shared))
    # 400 cells: a true 5 % gives 2.9-7.3 % nineteen times in twenty.
    assert 0.02 <= rate <= 0.10, rate


def test_the_former_two_level_bootstrap_fails_the_same_check() -> None:
    # What the simulation is for: resampling three seeds, then clips, under-covers.
    d = simulate(np.random.default_rng(12), 150, shared=False)
    rate = float(np.mean([(lambda lo, hi: lo > 0 or hi < 0)(*intervals.two_level(c)) for c in d]))
    assert rate > 0.10, rate


def test_a_real_difference_is_found_and_more_seeds_find_it_more_often() -> None:
    rng = np.random.default_rng(13)
    # A logit shift of 1.5: about +20 points at these accuracies.
    three = excluded(simulate(rng, 200, seeds=3, effect=1.5))
    five = excluded(simulate(rng, 200, seeds=5, effect=1.5))
    assert 0.2 < three < five, (three, five)
    assert five > 0.4, five


def test_a_claim_over_nine_null_comparisons_is_rarely_decided() -> None:
    rng = np.random.default_rng(14)
    claims, uncorrected, decided = 150, 0, 0
    for _ in range(claims):
        found = [
            verdicts.Comparison(str(k), intervals.paired(c)) for k, c in enumerate(simulate(rng, 9))
        ]
        uncorrected += any(c.state != verdicts.INCONCLUSIVE for c in found)
        states = [j.state for j in verdicts.corrected(found)]
        decided += verdicts.overall(states) != verdicts.INCONCLUSIVE
    # Without the correction, about 1 − 0.95⁹ ≈ 37 % of such claims would have a decided
    # comparison; Holm keeps it near the 5 % family-wise rate.
    assert uncorrected / claims > 0.2, uncorrected
    assert decided / claims <= 0.08, decided
