"""E4's criterion is shared by the two compared methods: a method that is at least as accurate
at every probe is never judged slower, whatever its final accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from clar.report import e4, verdicts
from clar.report.e4 import Curve

EPOCHS = np.arange(1.0, 11.0)


def _curve(objective: str, values: np.ndarray) -> Curve:
    return Curve(("speech", "spectrogram", objective, 100.0), EPOCHS, (0, 1, 2), values)


def test_a_method_that_ends_higher_is_not_judged_slower() -> None:
    # CLAR keeps climbing to 0.9; the self-supervised model plateaus early at 0.5 and is never
    # ahead. Against 90 % of its own final accuracy the self-supervised model "converged" by
    # epoch 5 and CLAR only at epoch 9: the old criterion called CLAR slower.
    hybrid = np.tile(np.linspace(0.1, 0.9, 10), (3, 1)) + np.array([[0.0], [0.01], [0.02]])
    other = np.minimum(hybrid, 0.5)
    found = e4.race(_curve("hybrid", hybrid), _curve("contrastive", other), "speech")
    assert found.epoch_mine <= found.epoch_other
    assert found.comparison.state == verdicts.SUPPORTED
    own_share = [int(np.argmax(c.mean(0) >= 0.9 * c.mean(0)[-1])) for c in (hybrid, other)]
    assert own_share[0] > own_share[1]  # what the old criterion saw


@pytest.mark.parametrize("seed", range(20))
def test_at_least_as_accurate_at_every_probe_is_never_slower(seed: int) -> None:
    rng = np.random.default_rng(seed)
    other = np.clip(np.cumsum(rng.uniform(-0.05, 0.15, (3, 10)), axis=1), 0, 1)
    ahead = other + rng.uniform(0, 0.1, (3, 10)) * (rng.random((3, 10)) < 0.5)
    for first, second, swapped in ((ahead, other, False), (other, ahead, True)):
        found = e4.race(_curve("hybrid", first), _curve("contrastive", second), "speech")
        if not swapped:
            assert found.epoch_mine <= found.epoch_other
            assert found.comparison.state != verdicts.CONTRADICTED
            assert found.comparison.interval.diff >= 0
        else:
            assert found.epoch_mine >= found.epoch_other
            assert found.comparison.state != verdicts.SUPPORTED


def test_equal_curves_are_inconclusive_and_one_seed_cannot_be_judged() -> None:
    values = np.tile(np.linspace(0.2, 0.8, 10), (3, 1)) + np.array([[0.0], [0.05], [-0.03]])
    same = e4.race(_curve("hybrid", values), _curve("contrastive", values[[1, 2, 0]]), "s")
    assert same.comparison.state == verdicts.INCONCLUSIVE
    one = Curve(("speech", "spectrogram", "hybrid", 100.0), EPOCHS, (0,), values[:1] + 0.1)
    single = e4.race(one, _curve("contrastive", values), "s")
    assert single.seeds == (0,)
    assert single.comparison.state == verdicts.UNJUDGED
