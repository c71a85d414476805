"""Fréchet distance: against a scipy sqrtm reference, closed forms, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.metrics.frechet import frechet_distance, frechet_from_stats


def reference_fd(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook route: scipy's sqrtm of the covariance product, real part kept."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b)
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sigma_a + sigma_b - 2.0 * covmean))


def correlated(rng: np.random.Generator, n: int, dim: int, shift: float = 0.0) -> np.ndarray:
    mixing = rng.normal(size=(dim, dim))
    return rng.normal(size=(n, dim)) @ mixing + shift


def test_matches_the_sqrtm_reference_on_the_same_features() -> None:
    rng = np.random.default_rng(0)
    a = correlated(rng, 300, 16)
    b = correlated(rng, 250, 16, shift=0.5)
    expected = reference_fd(a, b)
    assert expected > 1.0
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-4)


def test_a_set_against_itself_is_zero() -> None:
    a = correlated(np.random.default_rng(1), 200, 12)
    scale = float(np.trace(np.cov(a, rowvar=False)))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9 * scale)


def test_equal_covariances_leave_the_squared_mean_shift() -> None:
    a = correlated(np.random.default_rng(2), 150, 8)
    delta = np.arange(8, dtype=np.float64) / 4.0
    # a + delta has exactly a's covariance, so only |delta|² remains.
    assert frechet_distance(a, a + delta) == pytest.approx(float(delta @ delta), rel=1e-8)


def test_from_stats_matches_the_diagonal_closed_form() -> None:
    # Diagonal covariances commute: FD = |dmu|² + sum (sqrt(s_a) - sqrt(s_b))².
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = 5.0 + 1.0 + 0.0 + 4.0
    got = frechet_from_stats(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_float32_features_are_computed_in_float64() -> None:
    # A large common offset costs float32 its low digits in the mean; the result
    # must still match the reference computed on the same (float32-valued) numbers.
    rng = np.random.default_rng(3)
    a = (correlated(rng, 120, 4) + 1000.0).astype(np.float32)
    b = (correlated(rng, 120, 4, shift=0.1) + 1000.0).astype(np.float32)
    expected = reference_fd(a.astype(np.float64), b.astype(np.float64))
    got = frechet_distance(a, b)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("count", [8, 5])
def test_refuses_no_more_samples_than_dimensions(count: int) -> None:
    rng = np.random.default_rng(4)
    with pytest.raises(InvalidRequest) as info:
        frechet_distance(rng.normal(size=(50, 8)), rng.normal(size=(count, 8)))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"feats_b=({count}, 8)")
    assert "rank-deficient" in message
    assert "not comparable" in message
    assert "more than 8 images or a lower-dimensional extractor" in message


def test_refuses_mismatched_dimensions() -> None:
    rng = np.random.default_rng(5)
    with pytest.raises(GenlabError, match=r"feature dimension 5 but feats_a has 4.*same extractor"):
        frechet_distance(rng.normal(size=(20, 4)), rng.normal(size=(20, 5)))


def test_refuses_non_finite_features() -> None:
    a = np.random.default_rng(6).normal(size=(20, 3))
    bad = a.copy()
    bad[2, 1], bad[7, 0] = np.nan, np.inf
    with pytest.raises(InvalidRequest, match=r"feats_a=.*2 non-finite values"):
        frechet_distance(bad, a)


def test_refuses_fewer_than_two_samples_and_non_matrices() -> None:
    with pytest.raises(InvalidRequest, match=r"at least 2 samples \(rows\), got 1"):
        frechet_distance(np.zeros((1, 1)), np.zeros((5, 1)))
    with pytest.raises(InvalidRequest, match=r"2-D \(samples, features\)"):
        frechet_distance(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(InvalidRequest, match=r"feats_a='str' is invalid: must be numeric"):
        frechet_distance("abc", np.zeros((5, 1)))


def test_from_stats_refuses_malformed_statistics() -> None:
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(InvalidRequest, match=r"sigma_a=\(2, 2\).*\(3, 3\) covariance"):
        frechet_from_stats(mu, np.eye(2), mu, sigma)
    with pytest.raises(InvalidRequest, match=r"mu_b=\(4,\).*dimension 4 but mu_a has 3"):
        frechet_from_stats(mu, sigma, np.zeros(4), np.eye(4))
    skew = np.eye(3)
    skew[0, 1] = 0.5
    with pytest.raises(InvalidRequest, match=r"sigma_b=.*not symmetric"):
        frechet_from_stats(mu, sigma, mu, skew)
    with pytest.raises(InvalidRequest, match=r"mu_a=.*non-finite"):
        frechet_from_stats(np.array([0.0, np.nan, 0.0]), sigma, mu, sigma)
