"""A 2-D map of a folder in feature space: PCA of the `shapes` encoder's embeddings,
for the audit report's scatter plot (UMAP is not used: it is not a dependency)."""

from __future__ import annotations

from typing import Any

import numpy as np


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """(N, 2) coordinates on the first two principal components, and the share of
    variance each explains. Fewer than 3 images, or identical ones, give zeros."""
    from sklearn.decomposition import PCA

    n = len(features)
    if n < 3 or float(np.ptp(features, axis=0).max()) == 0.0:
        return np.zeros((n, 2)), [0.0, 0.0]
    pca = PCA(n_components=2, svd_solver="full").fit(features)
    return pca.transform(features), [float(r) for r in pca.explained_variance_ratio_]


def projection(names: list[str], features: np.ndarray, colour_by: list[Any]) -> dict[str, Any]:
    coords, explained = pca_2d(features)
    return {
        "method": "pca",
        "explained_variance": explained,
        "points": [
            {"file_name": n, "x": round(float(x), 4), "y": round(float(y), 4), "group": g}
            for n, (x, y), g in zip(names, coords, colour_by)
        ],
    }
