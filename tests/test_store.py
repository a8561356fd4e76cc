"""Label-fraction subsets and validation carving: stratified, nested, stable, method-independent."""

import itertools

import numpy as np
import pytest

from clar.data.store import carve_validation, class_sizes, label_ranks, labelled_mask
from clar.errors import ClarError

FRACTIONS = (1, 10, 20, 50, 100)


@pytest.fixture
def labels():
    # Unequal classes, shuffled, as real data sets are.
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(5), [200, 120, 57, 9, 1])
    return rng.permutation(labels)


def masks(labels, dataset="ds", seed=0):
    ranks = label_ranks(labels, dataset, seed)
    sizes = class_sizes(labels)
    return {f: labelled_mask(ranks, sizes, f) for f in FRACTIONS}


def test_fractions_are_nested_and_stratified(labels):
    m = masks(labels)
    for small, large in itertools.pairwise(FRACTIONS):
        assert not (m[small] & ~m[large]).any(), f"{small}% not inside {large}%"
    assert m[100].all()
    for c, n in enumerate([200, 120, 57, 9, 1]):
        members = labels == c
        for f in FRACTIONS:
            got = int(m[f][members].sum())
            assert got == max(1, int(np.ceil(n * f / 100))), (c, f, got)


def test_subsets_depend_only_on_dataset_fraction_and_seed(labels):
    first, again = masks(labels), masks(labels)
    for f in FRACTIONS:
        np.testing.assert_array_equal(first[f], again[f])
    other_seed = masks(labels, seed=1)
    other_set = masks(labels, dataset="other")
    assert not np.array_equal(first[10], other_seed[10])
    assert not np.array_equal(first[10], other_set[10])


def test_every_class_keeps_a_label_and_bad_fractions_fail(labels):
    m = masks(labels)
    assert set(labels[m[1]]) == set(labels)
    ranks, sizes = label_ranks(labels, "ds", 0), class_sizes(labels)
    for bad in (0, 150, -5):
        with pytest.raises(ClarError, match="fraction"):
            labelled_mask(ranks, sizes, bad)


def test_carved_validation_is_stratified_and_stable(labels):
    chosen = carve_validation(labels, "ds", 0, 0.1)
    np.testing.assert_array_equal(chosen, carve_validation(labels, "ds", 0, 0.1))
    for c, n in enumerate([200, 120, 57, 9, 1]):
        got = int(chosen[labels == c].sum())
        assert got == (0 if n < 2 else max(1, round(n * 0.1))), (c, got)
