"""Improved precision and recall on point clouds whose answers are known."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import genlab.metrics.precision_recall as pr
from genlab.core.errors import InvalidRequest
from genlab.metrics.precision_recall import PrecisionRecall, precision_recall

CORNERS = np.array([[50.0, 50.0], [-50.0, 50.0], [50.0, -50.0], [-50.0, -50.0]])


def clusters(rng: np.random.Generator, centres: np.ndarray, per: int) -> np.ndarray:
    return np.concatenate([c + rng.normal(size=(per, 2)) for c in centres])


def test_identical_sets_score_one_and_one() -> None:
    x = np.random.default_rng(0).normal(size=(80, 5))
    assert precision_recall(x, x.copy()) == PrecisionRecall(precision=1.0, recall=1.0, k=3)


def test_far_apart_sets_score_zero_and_zero() -> None:
    rng = np.random.default_rng(1)
    real, generated = rng.normal(size=(60, 3)), rng.normal(size=(40, 3)) + 100.0
    result = precision_recall(real, generated)
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_covering_half_the_modes_halves_recall_and_keeps_precision() -> None:
    real = clusters(np.random.default_rng(2), CORNERS, 30)  # (120, 2), 4 modes
    generated = real[:60]  # exactly the real samples of the first two modes
    result = precision_recall(real, generated)
    assert result.precision == 1.0
    assert result.recall == 0.5


def test_fresh_samples_from_half_the_modes() -> None:
    rng = np.random.default_rng(3)
    real = clusters(rng, CORNERS, 40)
    generated = clusters(rng, CORNERS[:2], 40)
    result = precision_recall(real, generated)
    assert result.precision > 0.85
    assert 0.4 < result.recall <= 0.5


def test_radius_is_the_kth_neighbour_and_the_ball_is_closed() -> None:
    # Real points 0, 1, 2, 3 on a line: with k = 3 the end points' balls have radius 3,
    # so 6.0 (exactly on the ball of 3) and -2.9 are inside, 6.1 and -3.1 are not.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    generated = np.array([[6.0], [6.1], [-2.9], [-3.1]])
    assert precision_recall(real, generated, k=3).precision == 0.5
    # With k = 1 every real radius is 1, and every generated radius is 0.1 or 0.2.
    assert precision_recall(real, generated, k=1) == PrecisionRecall(0.0, 0.0, 1)


def test_chunking_changes_nothing_and_bounds_each_block(monkeypatch) -> None:
    rng = np.random.default_rng(4)
    real, generated = rng.normal(size=(53, 4)), rng.normal(size=(41, 4)) + 0.5
    whole = precision_recall(real, generated, chunk_size=10_000)
    assert 0.0 < whole.precision < 1.0 and 0.0 < whole.recall < 1.0

    rows_seen = []
    real_sq_distances = pr._sq_distances

    def recording(x, y, y_sq):
        rows_seen.append(x.shape[0])
        return real_sq_distances(x, y, y_sq)

    monkeypatch.setattr(pr, "_sq_distances", recording)
    for chunk in (1, 7):
        rows_seen.clear()
        assert precision_recall(real, generated, chunk_size=chunk) == whole
        assert max(rows_seen) == chunk
        assert sum(rows_seen) == 2 * (53 + 41)  # every row once for radii, once for share


def test_result_is_frozen() -> None:
    result = PrecisionRecall(0.5, 0.5, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.precision = 1.0  # type: ignore[misc]


def test_refusals_name_the_problem() -> None:
    x = np.zeros((10, 2))
    with pytest.raises(InvalidRequest, match=r"k=0 is invalid: must be at least 1"):
        precision_recall(x, x, k=0)
    with pytest.raises(InvalidRequest, match=r"chunk_size=0 is invalid: must be at least 1"):
        precision_recall(x, x, chunk_size=0)
    with pytest.raises(InvalidRequest, match=r"generated=\(3, 2\).*at least 4 samples"):
        precision_recall(x, np.zeros((3, 2)), k=3)
    with pytest.raises(InvalidRequest, match=r"generated=\(10, 3\).*dimension 3 but real has 2"):
        precision_recall(x, np.zeros((10, 3)))
    bad = x.copy()
    bad[1, 1] = np.inf
    with pytest.raises(InvalidRequest, match=r"real=\(10, 2\).*1 non-finite value \(NaN or inf\)"):
        precision_recall(bad, x)
