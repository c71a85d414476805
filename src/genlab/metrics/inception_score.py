"""Inception score (Salimans et al. 2016) from a classifier's per-image predictions.

IS = exp(E_x KL(p(y|x) || p(y))): high when each image is classified confidently and
the classes are spread evenly over the set. It lies between 1 (every prediction the
same, or every prediction uniform) and the number of classes. It uses no real images,
so it says nothing about closeness to a dataset; report it beside FD/KID, not instead.

The standard scheme: cut the predictions, in the order given, into `splits` contiguous
parts, score each part with its own marginal p(y), and report the mean and (population)
standard deviation over parts. Shuffle beforehand if the order is not random (e.g.
images grouped by prompt), or the parts are not alike.
"""

from __future__ import annotations

import numpy as np

from genlab.core.errors import InvalidRequest

# How far rows passed as probabilities may be from summing to 1.
_SUM_TOLERANCE = 1e-4


def inception_score(
    logits_or_probs: object, *, splits: int = 10, probabilities: bool = False
) -> tuple[float, float]:
    """(mean, std) of the inception score over `splits` parts of (N, classes) predictions.

    Pass class logits (softmax is applied here), or probabilities with
    `probabilities=True`.
    """
    if splits < 1:
        raise InvalidRequest("splits", splits, "must be at least 1")
    name = "logits_or_probs"
    try:
        preds = np.asarray(logits_or_probs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(
            name, type(logits_or_probs).__name__, f"must be numeric: {exc}"
        ) from None
    if preds.ndim != 2 or preds.shape[1] < 2:
        raise InvalidRequest(name, preds.shape, "must be a 2-D (images, classes>=2) array")
    if preds.shape[0] < splits:
        raise InvalidRequest(
            name,
            preds.shape,
            f"has {preds.shape[0]} rows, fewer than splits={splits}; every split needs images",
        )
    if not np.all(np.isfinite(preds)):
        raise InvalidRequest(name, preds.shape, "has non-finite values (NaN or inf)")
    log_p = _log_probs(preds) if probabilities else _log_softmax(preds)  # (N, C)
    p = np.exp(log_p)
    n = preds.shape[0]
    scores = np.empty(splits)
    for i in range(splits):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        part = p[rows]  # (B, C)
        marginal = part.mean(axis=0)  # (C,)
        # Where p(y|x) = 0 its term is 0 (x log x -> 0), so any finite log stands in for
        # log 0; and p(y) > 0 wherever some p(y|x) > 0.
        log_part = np.where(part > 0, log_p[rows], 0.0)
        log_marginal = np.log(np.where(marginal > 0, marginal, 1.0))
        kl = (part * (log_part - log_marginal)).sum(axis=1)  # (B,)
        scores[i] = np.exp(kl.mean())
    return float(scores.mean()), float(scores.std())


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _log_probs(probs: np.ndarray) -> np.ndarray:
    name = "logits_or_probs"
    if probs.min() < 0:
        raise InvalidRequest(name, probs.shape, "has negative values but probabilities=True")
    worst = float(np.abs(probs.sum(axis=1) - 1.0).max())
    if worst > _SUM_TOLERANCE:
        raise InvalidRequest(
            name,
            probs.shape,
            f"has rows summing {worst:.3g} away from 1 but probabilities=True; "
            "pass logits with probabilities=False",
        )
    with np.errstate(divide="ignore"):
        return np.log(probs)
