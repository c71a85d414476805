"""Scoring an upscaler against bicubic on the held-out photos (PSNR/SSIM on Y)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from genlab.metrics.sr import sr_scores
from genlab.upscale.data import HELD_OUT, Pair, eval_pairs
from genlab.upscale.loaders import Resampler, Upscaler, check_scale


@dataclass(frozen=True)
class Score:
    photo: str
    bicubic_psnr: float
    bicubic_ssim: float
    psnr: float
    ssim: float

    @property
    def gain_db(self) -> float:
        return self.psnr - self.bicubic_psnr

    def to_dict(self) -> dict:
        return {**asdict(self), "gain_db": self.gain_db}


def score_pair(upscaler: Upscaler, pair: Pair, scale: int, *, tile: int = 0) -> Score:
    from genlab.upscale.loaders import upscale_image

    lr = Image.fromarray(pair.lr, "RGB")
    bicubic = Resampler("bicubic").upscale(lr, scale, tile=0)
    out = upscale_image(lr, upscaler, scale, tile=tile).image
    b_psnr, b_ssim = sr_scores(pair.hr, np.asarray(bicubic), scale)
    psnr, ssim = sr_scores(pair.hr, np.asarray(out), scale)
    return Score(pair.name, b_psnr, b_ssim, psnr, ssim)


def evaluate(
    upscaler: Upscaler,
    scale: int,
    *,
    photos: tuple[str, ...] = HELD_OUT,
    tile: int = 0,
    on_photo: Callable[[str], None] | None = None,
) -> list[Score]:
    """One Score per held-out photo, then the mean as a row named "mean"."""
    check_scale(scale)
    scores = []
    for pair in eval_pairs(scale, photos):
        scores.append(score_pair(upscaler, pair, scale, tile=tile))
        if on_photo is not None:
            on_photo(pair.name)
    return [*scores, mean_score(scores)]


def mean_score(scores: list[Score]) -> Score:
    def avg(field: str) -> float:
        return float(np.mean([getattr(s, field) for s in scores]))

    return Score("mean", avg("bicubic_psnr"), avg("bicubic_ssim"), avg("psnr"), avg("ssim"))
