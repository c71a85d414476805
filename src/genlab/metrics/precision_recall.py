"""Improved precision and recall (Kynkäänniemi et al. 2019) on feature sets.

FD and KID fold fidelity and coverage into one number; these two split them. Each set's
manifold is approximated by balls around its samples, each ball's radius the distance to
that sample's k-th nearest neighbour in the same set (k = 3, the paper's choice).
Precision is the share of generated samples inside the real manifold (are the images
realistic?); recall is the share of real samples inside the generated manifold (is the
real variety covered?). A model that draws one perfect image every time scores high
precision and low recall.

Distances are computed a block of rows at a time, so memory stays at about
`chunk_size` x N float64 values however large the sets are (10k x 10k would otherwise be
an 800 MB matrix); the cost is still O(N² d) time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genlab.core.errors import InvalidRequest
from genlab.metrics.frechet import feature_pair

DEFAULT_K = 3
DEFAULT_CHUNK_SIZE = 512


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float
    k: int


def precision_recall(
    real: object,
    generated: object,
    *,
    k: int = DEFAULT_K,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> PrecisionRecall:
    """Improved precision and recall of `generated` against `real`, both (N, D)."""
    if k < 1:
        raise InvalidRequest("k", k, "must be at least 1")
    if chunk_size < 1:
        raise InvalidRequest("chunk_size", chunk_size, "must be at least 1")
    # A k-th nearest neighbour other than the point itself needs k + 1 points.
    real_arr, gen_arr = feature_pair(real, generated, min_rows=k + 1, names=("real", "generated"))
    # Distances ignore translation; moving both sets by the same vector shrinks the norms
    # that the expansion |a|² - 2a·b + |b|² subtracts, and with them its rounding error.
    centre = real_arr.mean(axis=0)
    real_arr, gen_arr = real_arr - centre, gen_arr - centre
    real_radii = _knn_radii_sq(real_arr, k, chunk_size)  # (N_real,)
    gen_radii = _knn_radii_sq(gen_arr, k, chunk_size)  # (N_gen,)
    precision = _share_inside(gen_arr, real_arr, real_radii, chunk_size)
    recall = _share_inside(real_arr, gen_arr, gen_radii, chunk_size)
    return PrecisionRecall(precision=precision, recall=recall, k=k)


def _sq_distances(x: np.ndarray, y: np.ndarray, y_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(x), len(y)); y_sq is |y|² per row, precomputed."""
    d = (x * x).sum(axis=1)[:, None] - 2.0 * (x @ y.T) + y_sq[None, :]
    # The expansion can dip a hair below zero for (near-)equal rows.
    return np.maximum(d, 0.0, out=d)


def _knn_radii_sq(x: np.ndarray, k: int, chunk_size: int) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row of the same set."""
    x_sq = (x * x).sum(axis=1)
    radii = np.empty(x.shape[0])
    for start in range(0, x.shape[0], chunk_size):
        stop = min(start + chunk_size, x.shape[0])
        d = _sq_distances(x[start:stop], x, x_sq)  # (B, N)
        # Each row's own distance is exactly 0; set it so rounding cannot move it.
        d[np.arange(stop - start), np.arange(start, stop)] = 0.0
        # Sorted position 0 is the row itself, so position k is its k-th neighbour
        # (a duplicate of the row counts as a neighbour at distance 0).
        radii[start:stop] = np.partition(d, k, axis=1)[:, k]
    return radii


def _share_inside(
    points: np.ndarray, centres: np.ndarray, radii_sq: np.ndarray, chunk_size: int
) -> float:
    """Share of `points` within some centre's ball (inclusive, as in the paper)."""
    centres_sq = (centres * centres).sum(axis=1)
    inside = 0
    for start in range(0, points.shape[0], chunk_size):
        d = _sq_distances(points[start : start + chunk_size], centres, centres_sq)  # (B, M)
        inside += int(np.count_nonzero((d <= radii_sq[None, :]).any(axis=1)))
    return inside / points.shape[0]
