"""A1111's "Extras" upscaling (scripts/postprocessing_upscale.py) with genlab's
upscalers: scale by a factor or to a size (then centre-crop), optionally blended with
a second upscaler.

An upscaler runs at its own scale (2 or 4) as many times as the target needs, at most
three passes as in A1111, then the result is resized to the exact target with Lanczos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genlab.core.errors import InvalidRequest

if TYPE_CHECKING:
    from PIL import Image

NONE = "None"  # A1111's name for "no upscaler"
MAX_PASSES = 3
MAX_FACTOR = 8.0  # A1111's slider limit for "Resize"


@dataclass(frozen=True)
class ExtrasUpscale:
    upscaler_1: str = NONE
    upscaler_2: str = NONE
    upscaler_2_visibility: float = 0.0
    factor: float = 2.0  # resize_mode 0
    size: tuple[int, int] | None = None  # resize_mode 1: (width, height)
    crop: bool = True  # with a size: crop to it rather than keep the aspect ratio
    max_pixels: int = 4096 * 4096  # of the result


def upscaler_name(given: str, field: str) -> str | None:
    """genlab's upscaler for an A1111 name (case does not matter: "Lanczos"), None for
    "None"; an unknown name is refused with the list of names."""
    from genlab.services.tools import upscale_models

    if given.strip().lower() == NONE.lower():
        return None
    by_lower = {name.lower(): name for name in upscale_models()}
    found = by_lower.get(given.strip().lower())
    if found is None:
        allowed = ", ".join((NONE, *upscale_models()))
        raise InvalidRequest(field, given, f"must be one of: {allowed} (GET /sdapi/v1/upscalers)")
    return found


def target_size(image: Image.Image, job: ExtrasUpscale) -> tuple[int, int, float]:
    """(width, height, factor) of the upscaled image before any crop."""
    if job.size is not None:
        width, height = job.size
        factor = max(width / image.width, height / image.height)
        if not job.crop:
            width, height = round(image.width * factor), round(image.height * factor)
    else:
        factor = job.factor
        width, height = round(image.width * factor), round(image.height * factor)
    # Before a crop the scaled image is as large as the factor makes it.
    scaled = round(image.width * factor) * round(image.height * factor)
    if max(scaled, width * height) > job.max_pixels:
        raise InvalidRequest(
            "upscaling_resize" if job.size is None else "upscaling_resize_w",
            f"{image.width}x{image.height} by {factor:.4g}",
            f"the upscaled image may have at most {job.max_pixels} pixels",
        )
    return width, height, factor


def upscale_by(image: Image.Image, model: str, factor: float) -> Image.Image:
    """`image` scaled by `factor` with upscaler `model`: passes at 2 or 4, then Lanczos."""
    from PIL import Image as PILImage

    from genlab.services.tools import UpscaleRequest, upscale

    dest = (round(image.width * factor), round(image.height * factor))
    for _ in range(MAX_PASSES):
        if image.width >= dest[0] and image.height >= dest[1]:
            break
        remaining = max(dest[0] / image.width, dest[1] / image.height)
        scale = 4 if remaining >= 4 else 2  # never more than twice past the target
        _, result = upscale(UpscaleRequest(model=model, scale=scale), image)
        image = result.image
    if image.size != dest:
        image = image.resize(dest, PILImage.Resampling.LANCZOS)
    return image


def run_extras(image: Image.Image, job: ExtrasUpscale) -> tuple[Image.Image, dict[str, object]]:
    """The upscaled image and the `Postprocess …` parameters A1111 writes for it."""
    first = upscaler_name(job.upscaler_1, "upscaler_1")
    second = upscaler_name(job.upscaler_2, "upscaler_2")
    if first is None:
        return image, {}  # as A1111: without a first upscaler nothing is resized
    width, height, factor = target_size(image, job)
    image = image.convert("RGB")
    upscaled = upscale_by(image, first, factor)
    params: dict[str, object] = {"Postprocess upscale by": round(factor, 4)}
    if job.size is not None:
        params = {"Postprocess upscale to": f"{width}x{height}"}
        if job.crop:
            params["Postprocess crop to"] = f"{width}x{height}"
    params["Postprocess upscaler"] = first
    if second is not None and job.upscaler_2_visibility > 0:
        from PIL import Image as PILImage

        other = upscale_by(image, second, factor)
        upscaled = PILImage.blend(upscaled, other, job.upscaler_2_visibility)
        params["Postprocess upscaler 2"] = second
        params["Postprocess upscaler 2 visibility"] = job.upscaler_2_visibility
    if upscaled.size != (width, height):  # a size with crop: the centre of the scaled image
        left, top = (upscaled.width - width) // 2, (upscaled.height - height) // 2
        upscaled = upscaled.crop((left, top, left + width, top + height))
    return upscaled, params
