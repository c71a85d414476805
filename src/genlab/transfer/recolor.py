"""Recolouring an image: like a reference image (`genlab.transfer.colour`'s methods) or
onto a palette (`genlab.transfer.palette`), and how far the result's palette moved.

It sits above both modules because it is the one place that uses the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genlab.core.errors import InvalidRequest
from genlab.transfer.colour import METHODS, blend, split_alpha, transfer
from genlab.transfer.palette import (
    Palette,
    extract_palette,
    palette_distance,
    recolor_to_palette,
)

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Recolored:
    """A recoloured image and how far its palette is from the target's, before and after."""

    image: Image.Image
    target: Palette
    distance_before: float
    distance_after: float


def recolor(
    image: Image.Image,
    *,
    like: Image.Image | None = None,
    palette: Palette | None = None,
    method: str = "reinhard",
    strength: float = 1.0,
    regrain: bool = True,
    seed: int = 0,
) -> Recolored:
    """Recolour `image` like a reference image or onto a palette (exactly one of them).

    Alpha is kept as it is; only visible pixels count for statistics. `strength` blends
    the result with the original (0 = unchanged, 1 = full transfer).
    """
    from PIL import Image as PILImage

    if (like is None) == (palette is None):
        raise InvalidRequest(
            "like/palette", "both" if like is not None else "neither", "give exactly one"
        )
    if not 0.0 <= strength <= 1.0:
        raise InvalidRequest("strength", strength, "a number from 0 to 1")
    if like is not None and method not in METHODS:
        raise InvalidRequest("method", method, f"one of {', '.join(METHODS)}")
    source, alpha = split_alpha(image)
    mask = alpha > 0 if alpha is not None else None
    if like is not None:
        reference, ref_alpha = split_alpha(like)
        ref_mask = ref_alpha > 0 if ref_alpha is not None else None
        target = extract_palette(reference, 6, mask=ref_mask, seed=seed)
        result = transfer(
            source,
            reference,
            method=method,
            source_mask=mask,
            reference_mask=ref_mask,
            regrain=regrain,
            seed=seed,
        )
    else:
        assert palette is not None
        target = palette
        result = recolor_to_palette(source, palette, mask=mask, seed=seed)
    result = blend(source, result, strength)
    k = len(target.colours)
    before = palette_distance(extract_palette(source, k, mask=mask, seed=seed), target)
    after = palette_distance(extract_palette(result, k, mask=mask, seed=seed), target)
    out = PILImage.fromarray(result, "RGB")
    if alpha is not None:
        out.putalpha(PILImage.fromarray(alpha, "L"))
    return Recolored(out, target, before, after)
