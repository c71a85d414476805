"""Inception score: its bounds, a KL reference from scipy, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import scipy.stats

from genlab.core.errors import InvalidRequest
from genlab.metrics.inception_score import inception_score


def reference_is(probs: np.ndarray, splits: int) -> tuple[float, float]:
    """exp(mean KL(p(y|x) || p(y))) per contiguous part, with scipy's KL."""
    n = len(probs)
    scores = []
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(axis=0)
        scores.append(np.exp(np.mean([scipy.stats.entropy(row, marginal) for row in part])))
    return float(np.mean(scores)), float(np.std(scores))


def test_uniform_predictions_score_one() -> None:
    mean, std = inception_score(np.zeros((50, 7)))
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_one_confident_class_for_every_image_scores_one() -> None:
    logits = np.zeros((40, 5))
    logits[:, 2] = 30.0
    assert inception_score(logits, splits=4)[0] == pytest.approx(1.0, abs=1e-9)


def test_confident_evenly_spread_predictions_score_the_class_count() -> None:
    labels = np.arange(100) % 10  # each split of 10 holds every class once
    probs = np.eye(10)[labels]
    assert inception_score(probs, splits=10, probabilities=True) == (
        pytest.approx(10.0, rel=1e-12),
        pytest.approx(0.0, abs=1e-12),
    )
    logits = 50.0 * np.eye(10)[labels]  # softmax is one-hot to ~1e-21
    assert inception_score(logits, splits=10)[0] == pytest.approx(10.0, rel=1e-9)


def test_matches_the_scipy_reference_with_uneven_splits() -> None:
    logits = np.random.default_rng(0).normal(scale=3.0, size=(31, 6))
    probs = scipy.special.softmax(logits, axis=1)
    expected = reference_is(probs, splits=3)
    assert expected[0] > 1.5 and expected[1] > 0.0
    mean, std = inception_score(logits, splits=3)
    assert mean == pytest.approx(expected[0], rel=1e-9)
    assert std == pytest.approx(expected[1], rel=1e-6)
    assert inception_score(probs, splits=3, probabilities=True)[0] == pytest.approx(
        expected[0], rel=1e-9
    )


def test_refusals_name_the_problem() -> None:
    logits = np.zeros((20, 4))
    with pytest.raises(InvalidRequest, match=r"splits=0 is invalid: must be at least 1"):
        inception_score(logits, splits=0)
    with pytest.raises(InvalidRequest, match=r"has 5 rows, fewer than splits=10"):
        inception_score(np.zeros((5, 4)), splits=10)
    with pytest.raises(InvalidRequest, match=r"\(images, classes>=2\)"):
        inception_score(np.zeros(20))
    bad = logits.copy()
    bad[3, 3] = np.nan
    with pytest.raises(InvalidRequest, match=r"logits_or_probs=\(20, 4\).*non-finite"):
        inception_score(bad)
    with pytest.raises(InvalidRequest, match=r"summing 1 away from 1.*pass logits"):
        inception_score(logits, probabilities=True)
    negative = np.full((20, 4), 0.25)
    negative[0] = [-0.5, 0.5, 0.5, 0.5]
    with pytest.raises(InvalidRequest, match=r"negative values but probabilities=True"):
        inception_score(negative, probabilities=True)
