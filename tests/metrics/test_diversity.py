"""Mean pairwise distance: against scipy's pdist, collapse, chunking, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance

from genlab.core.errors import InvalidRequest
from genlab.metrics.diversity import mean_pairwise_distance


def test_matches_the_mean_of_scipy_pdist() -> None:
    x = np.random.default_rng(0).normal(size=(37, 9)) * 4.0 + 100.0
    expected = float(scipy.spatial.distance.pdist(x).mean())
    assert mean_pairwise_distance(x) == pytest.approx(expected, rel=1e-9)


def test_two_points_give_their_distance() -> None:
    assert mean_pairwise_distance([[0.0, 0.0], [3.0, 4.0]]) == pytest.approx(5.0, rel=1e-12)


def test_a_collapsed_set_scores_zero_and_a_spread_one_does_not() -> None:
    rng = np.random.default_rng(0)
    collapsed = np.tile(rng.normal(size=64) * 30.0 + 7.0, (20, 1))  # (20, 64)
    # |a|² - 2a·b + |b|² on the raw rows leaves ~1e-6 here; distances must not.
    assert mean_pairwise_distance(collapsed) < 1e-9
    spread = collapsed + rng.normal(size=(20, 64))
    assert mean_pairwise_distance(spread) > 1.0


@pytest.mark.parametrize("chunk_size", [1, 6, 1000])
def test_chunk_size_changes_nothing(chunk_size: int) -> None:
    x = np.random.default_rng(2).normal(size=(23, 5))
    expected = float(scipy.spatial.distance.pdist(x).mean())
    assert mean_pairwise_distance(x, chunk_size=chunk_size) == pytest.approx(expected, rel=1e-9)


def test_refusals_name_the_problem() -> None:
    with pytest.raises(InvalidRequest, match=r"feats=\(1, 4\).*at least 2 samples"):
        mean_pairwise_distance(np.zeros((1, 4)))
    with pytest.raises(InvalidRequest, match=r"feats=\(6,\).*2-D"):
        mean_pairwise_distance(np.zeros(6))
    with pytest.raises(InvalidRequest, match=r"feats=\(3, 2\).*1 non-finite value"):
        mean_pairwise_distance([[0.0, 1.0], [np.nan, 0.0], [1.0, 1.0]])
    with pytest.raises(InvalidRequest, match=r"chunk_size=0 is invalid"):
        mean_pairwise_distance(np.zeros((3, 2)), chunk_size=0)
