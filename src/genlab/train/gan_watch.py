"""The mode-collapse watch: diversity across seeds and recall against held-out renders.

A collapsing GAN draws the same picture whatever the noise; its losses need not show
it. So every N steps the trainer measures, in the `shapes` encoder's feature space:
- diversity: for a few fixed captions, the mean pairwise feature distance of images
  drawn with different seeds, divided by the same number for Shapes World's own
  renders of those captions (1 = as varied as the world, 0 = one image per caption);
- precision and recall (Kynkäänniemi et al. 2019) of images drawn for the held-out
  captions against the held-out images themselves, which training never sees.
Diversity below DIVERSITY_WARNING is logged as a warning.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from genlab.metrics.diversity import mean_pairwise_distance
from genlab.metrics.precision_recall import precision_recall

log = logging.getLogger(__name__)

# Below this share of the world's own seed-to-seed variety, images of one caption are
# near copies of each other: the warning sign of mode collapse.
DIVERSITY_WARNING = 0.5
WATCH_SEEDS = 16  # images per caption for the diversity number


def to_pil(batch: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> PIL images."""
    arrays = ((batch.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in arrays]


@dataclass
class Watch:
    """Held-out features and reference diversities, computed once per run."""

    extractor: object  # a ShapesExtractor
    captions: list[str]  # held-out captions, one per held-out image
    real_features: np.ndarray  # (N, D)
    diversity_captions: list[str]
    real_diversity: list[float]

    @classmethod
    def build(
        cls, extractor, captions: Sequence[str], images: torch.Tensor, n_diversity: int = 6
    ) -> Watch:
        from genlab.world.parse import scene_from_prompt
        from genlab.world.render import render

        pil = [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in images]
        real = extractor.features(pil)
        chosen = list(captions[:n_diversity])
        side = images.shape[-1]
        reference = []
        for caption in chosen:
            renders = []
            for seed in range(WATCH_SEEDS):
                rng = random.Random(seed)
                scene, _ = scene_from_prompt(caption, rng)
                renders.append(render(scene, side, side, rng=rng))
            reference.append(mean_pairwise_distance(extractor.features(renders)))
        return cls(extractor, list(captions), real, chosen, reference)

    def measure(self, draw: Callable[[list[str], int], torch.Tensor]) -> dict[str, float]:
        """`draw(captions, seed)` -> images (B, 3, H, W) in [-1, 1] from the EMA generator."""
        ratios = []
        for caption, real in zip(self.diversity_captions, self.real_diversity):
            images = to_pil(draw([caption] * WATCH_SEEDS, 0))
            ratios.append(mean_pairwise_distance(self.extractor.features(images)) / max(real, 1e-9))
        fake = self.extractor.features(to_pil(draw(self.captions, 10_000)))
        pr = precision_recall(self.real_features, fake)
        result = {
            "diversity": float(np.mean(ratios)),
            "precision": pr.precision,
            "recall": pr.recall,
        }
        if result["diversity"] < DIVERSITY_WARNING:
            log.warning(
                "possible mode collapse: diversity %.2f is below %.2f of the world's own",
                result["diversity"],
                DIVERSITY_WARNING,
            )
        return result
