"""The paired intervals and the verdicts drawn from them, on synthetic per-clip outcomes whose
true difference is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from clar.report import intervals, verdicts
from clar.report.intervals import Interval


def _differences(rng: np.random.Generator, p_a: float, p_b: float, seeds: int, clips: int):
    a = rng.random((seeds, clips)) < p_a
    b = rng.random((seeds, clips)) < p_b
    return a.astype(float) - b


@pytest.mark.parametrize("seeds", [1, 4])
def test_interval_contains_the_true_difference_on_a_large_sample(seeds: int) -> None:
    d = _differences(np.random.default_rng(0), 0.75, 0.70, seeds, 6000 // seeds)
    found = intervals.paired(d)
    assert found.low < 5.0 < found.high
    # Narrow at this size, so the check above means something (four seeds: a t interval with
    # three degrees of freedom, 3.18 standard errors each way).
    assert found.high - found.low < (4.0 if seeds == 1 else 10.0)
    assert (found.seeds, found.clips) == (seeds, 6000 // seeds)
    assert found.diff == pytest.approx(100 * d.mean())


def test_one_seed_interval_matches_the_normal_approximation() -> None:
    d = _differences(np.random.default_rng(1), 0.8, 0.6, 1, 2000)[0]
    found = intervals.paired(d[None])
    half = 1.96 * 100 * d.std(ddof=1) / np.sqrt(len(d))
    assert found.low == pytest.approx(100 * d.mean() - half, abs=0.4)
    assert found.high == pytest.approx(100 * d.mean() + half, abs=0.4)


def test_seed_to_seed_spread_widens_the_interval() -> None:
    rng = np.random.default_rng(2)
    steady = _differences(rng, 0.7, 0.6, 3, 500)
    # The same clips, but each seed shifted: seed 0 much better, seed 2 much worse.
    shifted = steady.copy()
    shifted[0] = np.maximum(shifted[0], rng.random(500) < 0.3)
    shifted[2] = np.minimum(shifted[2], -(rng.random(500) < 0.3).astype(float))
    narrow, wide = intervals.paired(steady), intervals.paired(shifted)
    assert wide.high - wide.low > 1.5 * (narrow.high - narrow.low)


def test_several_seeds_give_the_t_interval_of_the_per_seed_differences() -> None:
    d = _differences(np.random.default_rng(3), 0.7, 0.65, 3, 300)
    found = intervals.paired(d)
    per_seed = 100 * d.mean(axis=1)
    low, high = stats.t.interval(0.95, df=2, loc=per_seed.mean(), scale=stats.sem(per_seed))
    assert (found.low, found.high) == pytest.approx((low, high))
    assert (found.seeds, found.clips, found.method) == (3, 300, intervals.T_OVER_SEEDS)
    assert intervals.paired(d[:1]).method == intervals.CLIP_BOOTSTRAP


def test_intervals_are_deterministic_and_independent_of_order() -> None:
    rng = np.random.default_rng(4)
    first, second = _differences(rng, 0.7, 0.6, 3, 200), _differences(rng, 0.6, 0.6, 1, 200)
    a = intervals.paired(first)
    intervals.paired(second)
    assert intervals.paired(first) == a
    assert intervals.paired(second) == intervals.paired(second)


def test_identical_outcomes_give_a_zero_width_interval_at_zero() -> None:
    found = intervals.paired(np.zeros((1, 50)))
    assert (found.diff, found.low, found.high) == (0.0, 0.0, 0.0)
    assert verdicts.state(found) == verdicts.INCONCLUSIVE


def test_over_seeds_is_the_student_t_interval() -> None:
    values = np.array([1.0, 4.0, 2.5])
    found = intervals.over_seeds(values)
    low, high = stats.t.interval(0.95, df=2, loc=values.mean(), scale=stats.sem(values))
    assert (found.low, found.high) == pytest.approx((low, high))
    assert (found.seeds, found.clips) == (3, 0)
    assert intervals.over_seeds(np.array([1.0])) is None
    # Identical differences: no spread, a point interval (scipy's would be NaN).
    same = intervals.over_seeds(np.array([2.0, 2.0, 2.0]))
    assert (same.low, same.high, same.p) == (2.0, 2.0, 0.0)


@pytest.mark.parametrize(
    ("low", "high", "state"),
    [
        (0.1, 5.0, verdicts.SUPPORTED),
        (-5.0, -0.1, verdicts.CONTRADICTED),
        (-1.0, 3.0, verdicts.INCONCLUSIVE),
        (0.0, 3.0, verdicts.INCONCLUSIVE),  # touching zero does not exclude it
        (-3.0, 0.0, verdicts.INCONCLUSIVE),
    ],
)
def test_state_needs_the_interval_to_exclude_zero(low: float, high: float, state: str) -> None:
    assert verdicts.state(Interval((low + high) / 2, low, high, 3, 100)) == state


def test_a_claim_is_supported_by_all_contradicted_by_some_and_mixed_by_both() -> None:
    s, c, i, u = (
        verdicts.SUPPORTED,
        verdicts.CONTRADICTED,
        verdicts.INCONCLUSIVE,
        verdicts.UNJUDGED,
    )
    assert verdicts.overall([s, s]) == s
    assert verdicts.overall([s, i]) == i
    assert verdicts.overall([c, i]) == c
    assert verdicts.overall([s, c, i]) == verdicts.MIXED
    assert verdicts.overall([s, u]) == s
    assert verdicts.overall([u]) == u and verdicts.overall([]) == u
    assert verdicts.tally([s, c, i, i, u], "data sets") == (
        "1 of 4 data sets supported, 1 contradicted, 2 inconclusive (1 could not be judged)"
    )


def test_holm_matches_its_definition() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    # Sorted: 0.005×5, 0.01×4, 0.03×3, 0.04×2, 0.5×1, then made non-decreasing.
    want = [0.04, 0.09, 0.09, 0.025, 0.5]
    assert verdicts.holm(p) == pytest.approx(want)
    assert verdicts.holm([0.2]) == [0.2] and verdicts.holm([]) == []
    assert verdicts.holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1


def _comparison(name: str, diff: float, p: float) -> verdicts.Comparison:
    half = 2.0 * abs(diff) * (1 if p >= 0.05 else 0.4)
    interval = Interval(diff, diff - half, diff + half, 3, 100, p, intervals.T_OVER_SEEDS)
    return verdicts.Comparison(name, interval)


def test_one_chance_hit_among_many_does_not_contradict_a_claim() -> None:
    # Nine comparisons, one whose interval alone excludes zero at p = 0.03: after Holm's
    # correction over nine it is not decided, and the claim stays inconclusive.
    found = [_comparison("hit", -4.2, 0.03)] + [
        _comparison(f"null {k}", 1.0, 0.6) for k in range(8)
    ]
    assert found[0].state == verdicts.CONTRADICTED  # alone, it would contradict
    judged = verdicts.corrected(found)
    assert judged[0].adjusted_p == pytest.approx(0.27)
    assert [j.state for j in judged] == [verdicts.INCONCLUSIVE] * 9
    assert verdicts.overall([j.state for j in judged]) == verdicts.INCONCLUSIVE
    # A decisive one survives the correction.
    strong = verdicts.corrected([_comparison("strong", -9.0, 0.0001), *found[1:]])
    assert strong[0].state == verdicts.CONTRADICTED
    assert verdicts.overall([j.state for j in strong]) == verdicts.CONTRADICTED


def test_corrected_keeps_unjudged_comparisons_and_the_interval_decides_alone() -> None:
    missing = verdicts.Comparison("missing", None, "no per-clip predictions")
    # p below 0.05 but an interval that includes zero (a bootstrap may disagree with its own
    # tail at the edge): never decided.
    edge = verdicts.Comparison("edge", Interval(1.0, -0.1, 2.0, 1, 50, 0.04))
    judged = verdicts.corrected([missing, edge])
    assert [j.state for j in judged] == [verdicts.UNJUDGED, verdicts.INCONCLUSIVE]
    assert np.isnan(judged[0].adjusted_p) and judged[1].adjusted_p == pytest.approx(0.04)


def test_p_values_agree_with_the_intervals() -> None:
    rng = np.random.default_rng(5)
    for seeds in (1, 3):
        for shift in (0.0, 0.08, 0.3):
            d = _differences(rng, 0.6 + shift, 0.6, seeds, 200)
            found = intervals.paired(d)
            assert (found.p < 0.05) == found.excludes_zero(), (seeds, shift, found)
    values = np.array([1.0, 4.0, 2.5])
    assert intervals.over_seeds(values).p == pytest.approx(stats.ttest_1samp(values, 0).pvalue)


def test_comparison_sentence_carries_interval_state_and_sample() -> None:
    found = verdicts.Comparison("speech/supervised", Interval(5.24, 1.1, 9.0, 3, 160))
    assert found.sentence() == (
        "speech/supervised: +5.2 points (95 % CI +1.1 to +9.0; 3 seeds × 160 test clips): supported"
    )
    assert found.cell() == "+5.2 [+1.1, +9.0] ▲"
    missing = verdicts.Comparison("speech/supervised", None, "no per-clip predictions")
    assert missing.state == verdicts.UNJUDGED and "no per-clip predictions" in missing.sentence()
