"""Named feature extractors: images in, an (N, D) float64 feature array out.

The statistics (frechet, kid, precision_recall, diversity) never load a network; an
extractor never computes a statistic. Every number is reported with the extractor's
name, because an FD on `shapes` features is not comparable with FID (FD on Inception
pool features) or with FD on CLIP features.

- `shapes`: a small encoder genlab trains on Shapes World and ships; always available,
  so the offline default means something for Shapes World images.
- `inception`: the standard FID network (pool3, 2048-D), only from weights on disk.
- `clip`: CLIP image embeddings, only from weights on disk.

Each extractor module exposes `load(weights: Path | None, device: str) -> FeatureExtractor`
and is imported only when asked for, so `genlab eval` with `shapes` never imports
transformers' CLIP code or looks for Inception weights.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from genlab.core.errors import InvalidRequest

# name -> module holding its `load` function
EXTRACTORS: dict[str, str] = {
    "shapes": "genlab.metrics.shapes_encoder",
    "inception": "genlab.metrics.inception",
    "clip": "genlab.metrics.clip",
}
DEFAULT_EXTRACTOR = "shapes"


class FeatureExtractor(Protocol):
    """What every extractor offers. `features` resizes inputs itself (documented per
    extractor in `resize`) and returns float64 (len(images), dim)."""

    name: str
    dim: int
    resize: str  # how inputs of another size are brought to the network's size

    def features(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray: ...


def get_extractor(
    name: str = DEFAULT_EXTRACTOR, *, weights: Path | None = None, device: str = "cpu"
) -> FeatureExtractor:
    """Load the extractor called `name`; unknown names get a one-line error."""
    module = EXTRACTORS.get(name)
    if module is None:
        raise InvalidRequest("extractor", name, f"must be one of {', '.join(EXTRACTORS)}")
    return importlib.import_module(module).load(weights, device)
