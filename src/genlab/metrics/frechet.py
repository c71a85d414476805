"""Fréchet distance between two sets of features, each summarised as a Gaussian.

FD = |mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^½). On Inception pool features it is
FID; on any other extractor it must be reported under that extractor's name, since the
numbers are not comparable with published FID. This module is only the statistics: it
takes (N, D) feature arrays from whichever extractor and never loads a network.

The covariance of N samples has rank at most N - 1, so with N <= D it is singular and
the distance mostly measures how few samples there were. We refuse that case rather
than return a number that would be compared with others as if it meant the same.
FD is also biased upwards at small N, so report N and use the same N for every model.

`feature_matrix` and `feature_pair` are the input checks shared by the other
feature-statistics modules (kid, precision_recall, diversity).
"""

from __future__ import annotations

import numpy as np

from genlab.core.errors import InvalidRequest

# How far a supplied covariance may be from symmetric before we call it broken rather
# than rounded: relative to its largest entry.
_SYMMETRY_TOLERANCE = 1e-6


def feature_matrix(feats: object, name: str, *, min_rows: int = 2) -> np.ndarray:
    """`feats` as a finite float64 (N, D) array with N >= min_rows, or InvalidRequest."""
    try:
        array = np.asarray(feats, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(name, type(feats).__name__, f"must be numeric: {exc}") from None
    if array.ndim != 2 or array.shape[1] < 1:
        raise InvalidRequest(name, array.shape, "must be a 2-D (samples, features) array")
    if array.shape[0] < min_rows:
        raise InvalidRequest(
            name, array.shape, f"needs at least {min_rows} samples (rows), got {array.shape[0]}"
        )
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise InvalidRequest(
            name,
            array.shape,
            f"has {bad} non-finite value{'s' * (bad != 1)} (NaN or inf); check the extractor",
        )
    return array


def feature_pair(
    feats_a: object,
    feats_b: object,
    *,
    min_rows: int = 2,
    names: tuple[str, str] = ("feats_a", "feats_b"),
) -> tuple[np.ndarray, np.ndarray]:
    """Both sets checked by `feature_matrix`, and of the same feature dimension."""
    a = feature_matrix(feats_a, names[0], min_rows=min_rows)
    b = feature_matrix(feats_b, names[1], min_rows=min_rows)
    if a.shape[1] != b.shape[1]:
        raise InvalidRequest(
            names[1],
            b.shape,
            f"has feature dimension {b.shape[1]} but {names[0]} has {a.shape[1]}; "
            "both sets must come from the same extractor",
        )
    return a, b


def frechet_distance(feats_a: object, feats_b: object) -> float:
    """Fréchet distance between the Gaussians fitted to two (N, D) feature sets."""
    a, b = feature_pair(feats_a, feats_b)
    dim = a.shape[1]
    for name, x in (("feats_a", a), ("feats_b", b)):
        if x.shape[0] <= dim:
            raise InvalidRequest(
                name,
                x.shape,
                f"Fréchet distance needs more samples than feature dimensions "
                f"({x.shape[0]} <= {dim}): the covariance is rank-deficient and the value is "
                f"not comparable; use more than {dim} images or a lower-dimensional extractor",
            )
    mu_a, sigma_a = a.mean(axis=0), np.cov(a, rowvar=False)  # (D,), (D, D)
    mu_b, sigma_b = b.mean(axis=0), np.cov(b, rowvar=False)
    return frechet_from_stats(mu_a, sigma_a, mu_b, sigma_b)


def frechet_from_stats(mu_a: object, sigma_a: object, mu_b: object, sigma_b: object) -> float:
    """Fréchet distance from precomputed means (D,) and covariances (D, D).

    The covariances should come from more samples than dimensions (see the module doc);
    only the caller knows the sample counts, so that is not checked here.
    """
    mu_a, sigma_a = _gaussian(mu_a, sigma_a, "a")
    mu_b, sigma_b = _gaussian(mu_b, sigma_b, "b")
    if mu_a.shape != mu_b.shape:
        raise InvalidRequest(
            "mu_b", mu_b.shape, f"has dimension {mu_b.size} but mu_a has {mu_a.size}"
        )
    diff = mu_a - mu_b
    # tr (S_a S_b)^½ without forming a non-symmetric product. S_a S_b has the same
    # eigenvalues as M = S_a^½ S_b S_a^½ (AB and BA share them), and M is symmetric
    # positive semi-definite, so eigvalsh gives real eigenvalues and their square roots
    # sum to the trace we want. scipy.linalg.sqrtm on S_a S_b, the usual route, can
    # return complex results from rounding and needs an eps-on-the-diagonal retry when
    # the product is near-singular; this route needs neither. Eigenvalues a hair below
    # zero are rounding, so they are clipped to zero.
    root_a = _psd_sqrt(sigma_a)  # (D, D)
    middle = root_a @ sigma_b @ root_a
    middle = (middle + middle.T) / 2  # (D, D), symmetric to the last bit
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum())
    value = float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * tr_covmean)
    # FD is a squared distance; a value below zero is rounding (e.g. a set against itself).
    return max(value, 0.0)


def _gaussian(mu: object, sigma: object, side: str) -> tuple[np.ndarray, np.ndarray]:
    mu_name, sigma_name = f"mu_{side}", f"sigma_{side}"
    try:
        mu_arr = np.asarray(mu, dtype=np.float64)
        sigma_arr = np.asarray(sigma, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(mu_name, type(mu).__name__, f"must be numeric: {exc}") from None
    if mu_arr.ndim != 1 or mu_arr.size < 1:
        raise InvalidRequest(mu_name, mu_arr.shape, "must be a 1-D mean vector (D,)")
    dim = mu_arr.size
    if sigma_arr.shape != (dim, dim):
        raise InvalidRequest(
            sigma_name, sigma_arr.shape, f"must be a ({dim}, {dim}) covariance to match {mu_name}"
        )
    for name, arr in ((mu_name, mu_arr), (sigma_name, sigma_arr)):
        if not np.all(np.isfinite(arr)):
            raise InvalidRequest(name, arr.shape, "has non-finite values (NaN or inf)")
    scale = max(float(np.abs(sigma_arr).max()), np.finfo(np.float64).tiny)
    if float(np.abs(sigma_arr - sigma_arr.T).max()) > _SYMMETRY_TOLERANCE * scale:
        raise InvalidRequest(sigma_name, sigma_arr.shape, "is not symmetric, so not a covariance")
    return mu_arr, (sigma_arr + sigma_arr.T) / 2


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance; rounding-negative eigenvalues become 0."""
    eigvals, eigvecs = np.linalg.eigh(sigma)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T
