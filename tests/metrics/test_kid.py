"""Kernel distance: against a pair-by-pair loop, subset capping, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.core.errors import InvalidRequest
from genlab.metrics.kid import kernel_distance


def loop_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² written out over every pair, with k(u, v) = (u·v / d + 1)³."""
    m, dim = x.shape

    def k(u: np.ndarray, v: np.ndarray) -> float:
        return (sum(float(p) * float(q) for p, q in zip(u, v)) / dim + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2.0 * xy


def test_matches_the_loop_when_each_subset_is_the_whole_set() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 6))
    b = rng.normal(loc=0.4, scale=1.3, size=(20, 6))
    expected = loop_mmd2(a, b)
    assert expected > 0.05
    # Subsets of all 20 rows are permutations, and MMD² ignores order: no spread.
    mean, std = kernel_distance(a, b, subsets=4, subset_size=20)
    assert mean == pytest.approx(expected, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9 * expected)


def test_mean_and_population_std_over_the_documented_subsets() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(30, 5)), rng.normal(loc=0.3, size=(25, 5))
    draws = np.random.default_rng(11)
    values = []
    for _ in range(4):
        x = a[draws.choice(30, 12, replace=False)]
        y = b[draws.choice(25, 12, replace=False)]
        values.append(loop_mmd2(x, y))
    mean, std = kernel_distance(a, b, subsets=4, subset_size=12, seed=11)
    assert mean == pytest.approx(np.mean(values), rel=1e-9)
    assert std == pytest.approx(np.std(values), rel=1e-6)


def test_subset_size_is_capped_at_the_smaller_set() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(15, 4)), rng.normal(size=(40, 4))
    capped = kernel_distance(a, b, subsets=5, subset_size=1000, seed=3)
    assert capped == kernel_distance(a, b, subsets=5, subset_size=15, seed=3)
    # Subsets of the larger set differ, so the estimate does spread.
    assert capped[1] > 0.0


def test_same_distribution_is_near_zero_and_a_shift_is_not() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    same_mean, same_std = kernel_distance(a, b, subsets=20, subset_size=100)
    shifted_mean, _ = kernel_distance(a, b + 1.0, subsets=20, subset_size=100)
    assert abs(same_mean) < 0.01
    assert same_std > 0.0
    assert shifted_mean > 50 * abs(same_mean)


def test_seed_picks_the_subsets() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    first = kernel_distance(a, b, subsets=5, subset_size=10, seed=7)
    assert first == kernel_distance(a, b, subsets=5, subset_size=10, seed=7)
    assert first != kernel_distance(a, b, subsets=5, subset_size=10, seed=8)


def test_refuses_bad_subsets_and_small_sets() -> None:
    a = np.zeros((10, 3))
    with pytest.raises(InvalidRequest, match=r"subsets=0 is invalid: must be at least 1"):
        kernel_distance(a, a, subsets=0)
    with pytest.raises(InvalidRequest, match=r"subset_size=1 is invalid: must be at least 2"):
        kernel_distance(a, a, subset_size=1)
    with pytest.raises(InvalidRequest, match=r"feats_b=\(1, 3\).*at least 2 samples"):
        kernel_distance(a, np.zeros((1, 3)))


def test_refuses_mismatched_and_non_finite_features() -> None:
    a = np.zeros((10, 3))
    with pytest.raises(InvalidRequest, match=r"feature dimension 2 but feats_a has 3"):
        kernel_distance(a, np.zeros((10, 2)))
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidRequest, match=r"feats_a=.*1 non-finite value"):
        kernel_distance(bad, a)
