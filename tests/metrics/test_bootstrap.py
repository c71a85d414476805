"""Bootstrap intervals: coverage on synthetic data, row resampling, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.core.errors import InvalidRequest
from genlab.metrics.bootstrap import bootstrap_ci


def coverage(level: float, experiments: int = 100, size: int = 40) -> float:
    """Share of experiments whose interval for the mean holds the true mean (2.0)."""
    hits = 0
    for i in range(experiments):
        data = np.random.default_rng(1000 + i).normal(loc=2.0, scale=3.0, size=size)
        low, high = bootstrap_ci(np.mean, data, n=200, level=level, seed=i)
        hits += low <= 2.0 <= high
    return hits / experiments


def test_95_percent_intervals_cover_the_true_mean_about_95_percent_of_the_time() -> None:
    assert 0.88 <= coverage(0.95) <= 0.99


def test_the_level_sets_the_coverage() -> None:
    # A 50% interval must miss far more often; a level ignored would not.
    assert 0.3 <= coverage(0.5) <= 0.7


def test_samples_are_resampled_independently_and_keep_their_sizes() -> None:
    data = np.arange(30, dtype=np.float64)

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(a.mean() - b.mean())

    # The same array twice: shared indices would make every difference exactly 0.
    low, high = bootstrap_ci(diff, data, data, n=300)
    assert low < -2.0 and high > 2.0
    sizes = bootstrap_ci(lambda a, b: 1000 * len(a) + len(b), data, data[:7], n=10)
    assert sizes == (30007.0, 30007.0)


def test_rows_stay_whole() -> None:
    rows = np.stack([np.arange(25.0), 10.0 * np.arange(25.0)], axis=1)  # (25, 2)

    def mean_if_rows_intact(x: np.ndarray) -> float:
        assert np.array_equal(x[:, 1], 10.0 * x[:, 0])
        return float(x[:, 0].mean())

    low, high = bootstrap_ci(mean_if_rows_intact, rows, n=100)
    assert low < 12.0 < high


def test_seed_reproduces_the_interval() -> None:
    data = np.random.default_rng(0).normal(size=50)
    first = bootstrap_ci(np.median, data, n=100, seed=4)
    assert first == bootstrap_ci(np.median, data, n=100, seed=4)
    assert first != bootstrap_ci(np.median, data, n=100, seed=5)


def test_refusals_name_the_problem() -> None:
    data = np.arange(10.0)
    with pytest.raises(InvalidRequest, match=r"samples=\(\) is invalid: give at least one"):
        bootstrap_ci(np.mean)
    with pytest.raises(InvalidRequest, match=r"n=1 is invalid: must be at least 2 resamples"):
        bootstrap_ci(np.mean, data, n=1)
    for level in (0.0, 1.0, 95):
        with pytest.raises(InvalidRequest, match=r"level=.* strictly between 0 and 1"):
            bootstrap_ci(np.mean, data, level=level)
    with pytest.raises(InvalidRequest, match=r"samples\[1\]=\(1,\).*at least 2 rows"):
        bootstrap_ci(lambda a, b: 0.0, data, [1.0])

    def undefined_on_some(x: np.ndarray) -> float:
        return float("nan") if x.max() < 9 else float(x.mean())

    with pytest.raises(
        InvalidRequest, match=r"statistic='undefined_on_some'.*non-finite value on \d+ of 200"
    ):
        bootstrap_ci(undefined_on_some, data, n=200)
