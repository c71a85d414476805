"""Diversity of one set of features: the mean distance between distinct pairs.

A model that collapses onto a few modes draws near-identical images, and the mean
pairwise L2 distance of their features falls towards 0; compare it with the same
number on real images from the same extractor. It needs no second set, so it also
works on a seed sweep of one prompt.

Distances are summed a block of rows at a time, so memory is about `chunk_size` x N
float64 values rather than N²; time is O(N² d).
"""

from __future__ import annotations

import numpy as np

from genlab.core.errors import InvalidRequest
from genlab.metrics.frechet import feature_matrix

DEFAULT_CHUNK_SIZE = 512


def mean_pairwise_distance(feats: object, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> float:
    """Mean Euclidean distance over all pairs i < j of the rows of `feats` (N, D)."""
    if chunk_size < 1:
        raise InvalidRequest("chunk_size", chunk_size, "must be at least 1")
    x = feature_matrix(feats, "feats", min_rows=2)
    # Distances ignore translation; centring first shrinks the norms that the expansion
    # |a|² - 2a·b + |b|² subtracts, and with them its rounding error.
    x = x - x.mean(axis=0)
    count = x.shape[0]
    x_sq = (x * x).sum(axis=1)  # (N,)
    total = 0.0
    for start in range(0, count, chunk_size):
        stop = min(start + chunk_size, count)
        d = x_sq[start:stop, None] - 2.0 * (x[start:stop] @ x.T) + x_sq[None, :]  # (B, N)
        # Zero the diagonal exactly: the square root would turn a rounding residue of
        # 1e-12 into a distance of 1e-6 per row.
        d[np.arange(stop - start), np.arange(start, stop)] = 0.0
        total += float(np.sqrt(np.maximum(d, 0.0)).sum())
    # Each unordered pair was counted twice (as i, j and as j, i).
    return total / (count * (count - 1))
