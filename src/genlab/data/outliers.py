"""Outliers in a feature space: images far from their nearest neighbours.

The score of an image is its mean distance to its k nearest other images (the k-NN
distance of Ramaswamy et al. 2000), which needs no assumption about how many clusters
the data has; scores are then made comparable across folders as robust z-scores
(median and MAD, scaled to a normal's sigma), and an image is an outlier above 3.5
(Iglewicz and Hoaglin's cut-off for the modified z-score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K = 5
CUTOFF = 3.5
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Outliers:
    scores: np.ndarray  # (N,) mean distance to the k nearest neighbours
    z: np.ndarray  # (N,) robust z-scores of `scores`
    indices: list[int]  # images above the cut-off, most outlying first


def knn_outliers(features: np.ndarray, k: int = K, cutoff: float = CUTOFF) -> Outliers:
    from sklearn.neighbors import NearestNeighbors

    n = len(features)
    if n < 3:
        return Outliers(np.zeros(n), np.zeros(n), [])
    k = min(k, n - 1)
    # k + 1: each point is its own nearest neighbour at distance 0.
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    scores = distances[:, 1:].mean(axis=1)
    median = float(np.median(scores))
    mad = float(np.median(np.abs(scores - median))) * MAD_TO_SIGMA
    z = (scores - median) / mad if mad > 0 else np.zeros(n)
    order = np.argsort(-z, kind="stable")
    return Outliers(scores, z, [int(i) for i in order if z[i] > cutoff])
