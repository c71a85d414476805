"""CLIP score: how well each image matches its prompt, by CLIP's image-text similarity.

Hessel et al. 2021 (CLIPScore) define, for an image embedding v and a text embedding c,
    CLIP-S(image, text) = w * max(cos(v, c), 0),  w = 2.5,
where w = 2.5 stretches the usual range of image-caption cosines (about 0 to 0.4)
towards 0..1, and a negative cosine counts as no match at all. It needs no reference images. The
paper prefixes each caption with "A photo depicts"; this module adds nothing unless
`prefix` is given. torchmetrics' `CLIPScore` reports 100 * max(cos, 0) instead, so its
numbers are 40 times these; values also differ between CLIP models, so always report
which model (`ClipScore.model`) and, for the interval, how many pairs.

The mean comes with a 95% percentile bootstrap interval over pairs
(`genlab.metrics.bootstrap`): group pairs that are not independent (several images of
one prompt) before reading it as the spread over prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genlab.core.errors import InvalidRequest
from genlab.metrics.bootstrap import bootstrap_ci

if TYPE_CHECKING:
    from PIL import Image

    from genlab.metrics.clip import ClipExtractor

WEIGHT = 2.5  # Hessel et al.'s w


@dataclass(frozen=True, eq=False)
class ClipScore:
    scores: np.ndarray  # (N,) per (image, prompt) pair, in [0, 2.5]
    mean: float
    ci: tuple[float, float] | None  # 95% bootstrap interval of the mean; None for one pair
    model: str  # the CLIP weights used (folder or hub id)
    truncated: tuple[int, ...]  # indices of prompts cut to CLIP's context length


def clip_scores(image_embeds: object, text_embeds: object) -> np.ndarray:
    """(N,) per-pair 2.5 * max(cos, 0) between row i of each (N, D) embedding array."""
    image = np.asarray(image_embeds, dtype=np.float64)
    text = np.asarray(text_embeds, dtype=np.float64)
    if image.ndim != 2 or image.shape != text.shape:
        raise InvalidRequest(
            "embeddings",
            (image.shape, text.shape),
            "image and text embeddings must both be (N, D) arrays of the same shape",
        )
    norms = np.linalg.norm(image, axis=1) * np.linalg.norm(text, axis=1)  # (N,)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise InvalidRequest("embeddings", image.shape, "every embedding must be finite, not 0")
    cos = np.einsum("nd,nd->n", image, text) / norms  # (N,)
    return WEIGHT * np.maximum(cos, 0.0)


def clip_score(
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    *,
    extractor: ClipExtractor | None = None,
    weights: Path | str | None = None,
    device: str = "cpu",
    prefix: str = "",
    batch_size: int = 64,
    resamples: int = 1000,
    seed: int = 0,
) -> ClipScore:
    """CLIP score of images[i] against prompts[i] for every i, their mean and its interval.

    Pass a loaded `extractor` to score many sets with one model; otherwise CLIP is loaded
    from `weights` or the Hugging Face cache (see `genlab.metrics.clip`).
    """
    if len(images) != len(prompts):
        raise InvalidRequest(
            "prompts", len(prompts), f"needs one prompt per image ({len(images)} images)"
        )
    if not images:
        raise InvalidRequest("images", 0, "give at least one (image, prompt) pair")
    bad = next((p for p in prompts if not isinstance(p, str)), None)
    if bad is not None:
        raise InvalidRequest("prompts", bad, "every prompt must be a string")
    if extractor is None:
        from genlab.metrics.clip import load

        extractor = load(weights, device)
    image_embeds = extractor.features(images, batch_size)
    text_embeds, truncated = extractor.text_features([prefix + p for p in prompts], batch_size)
    scores = clip_scores(image_embeds, text_embeds)
    ci = bootstrap_ci(np.mean, scores, n=resamples, seed=seed) if len(scores) > 1 else None
    return ClipScore(scores, float(scores.mean()), ci, extractor.source, tuple(truncated))
