"""Percentile bootstrap intervals for any statistic of one or more samples.

A metric computed on a few hundred images is an estimate; the interval says how much it
would move with another draw of images. Each resample draws, independently for every
sample, as many rows as it has, with replacement, and evaluates the statistic on them;
the interval is the central `level` share of those values (the percentile method).
Rows are the unit: pass per-image features or scores, not per-pixel values, and group
rows that are not independent (e.g. images of one prompt) into one row first.

Cost: `n` evaluations of the statistic on full-size resamples, plus copying the rows.
That is nothing for a mean, but FD on 2048-d features needs two 2048² eigendecompositions
per call, so n = 1000 costs a thousand FDs; use fewer resamples or KID for such cases.
Resampling also repeats rows, so FD on a resample has fewer distinct samples and is
biased further upwards; its bootstrap interval describes spread, not the bias.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genlab.core.errors import InvalidRequest


def bootstrap_ci(
    statistic: Callable[..., float],
    *samples: object,
    n: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """(low, high) percentile interval of `statistic(*resampled)` over `n` resamples."""
    if not samples:
        raise InvalidRequest("samples", (), "give at least one sample to resample")
    if n < 2:
        raise InvalidRequest("n", n, "must be at least 2 resamples")
    if not 0.0 < level < 1.0:
        raise InvalidRequest("level", level, "must be strictly between 0 and 1, e.g. 0.95")
    arrays = []
    for i, sample in enumerate(samples):
        array = np.asarray(sample)
        if array.ndim < 1 or array.shape[0] < 2:
            raise InvalidRequest(f"samples[{i}]", array.shape, "needs at least 2 rows to resample")
        arrays.append(array)
    rng = np.random.default_rng(seed)
    values = np.empty(n)  # (n,)
    for j in range(n):
        resampled = [a[rng.integers(0, a.shape[0], a.shape[0])] for a in arrays]
        values[j] = statistic(*resampled)
    if not np.all(np.isfinite(values)):
        raise InvalidRequest(
            "statistic",
            getattr(statistic, "__name__", repr(statistic)),
            f"returned a non-finite value on {int(np.sum(~np.isfinite(values)))} of {n} "
            "resamples; it must be defined on any resample of the rows",
        )
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)
