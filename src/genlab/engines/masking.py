"""A1111's mask options, in pixels: invert, blur, "fill", "only masked" and the composite.

The engine inpaints what `InpaintPlan.image` and `InpaintPlan.mask` say and hands each
generated image to `InpaintPlan.paste`, which puts it back into the init image. The
latent fills ("latent noise", "latent nothing") act on latents and live in inpaint.py.

As in A1111 (modules/processing.py, StableDiffusionProcessingImg2Img.init):
- the mask is inverted first, then blurred; the blurred mask is the denoising mask;
- the composite uses the blurred mask, doubled (so the seam sits outside the mask's
  edge) when the whole image is generated, as it is when only the masked area is;
- "only masked" crops the mask's bounding box plus padding, widened to the request's
  aspect ratio, generates it at the request size and pastes it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genlab.core.errors import InvalidRequest

if TYPE_CHECKING:
    from PIL import Image

    from genlab.core.request import GenerationRequest

Box = tuple[int, int, int, int]  # left, top, right, bottom (right and bottom exclusive)

# "fill": the masked area is painted from its surroundings by ever finer blurs of the
# unmasked pixels (radius, repeats), coarse to fine, each laid over the last.
FILL_PASSES = ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1))


@dataclass(frozen=True)
class InpaintPlan:
    image: Image.Image  # what the pipeline starts from (cropped and filled as asked)
    mask: Image.Image  # the denoising mask, "L", same size as `image` (white = draw anew)
    full: Image.Image  # the init image at the request size
    overlay: Image.Image  # the composite's mask, "L", at the size of `full`
    box: Box | None  # where `image` came from in `full` ("only masked"), else None
    extra: dict[str, object]  # A1111's infotext keys for what was applied

    def paste(self, generated: Image.Image) -> Image.Image:
        """`generated` put back into the init image: only the mask's pixels change."""
        from PIL import Image

        candidate = generated.convert("RGB")
        if self.box is not None:
            left, top, right, bottom = self.box
            region = candidate.resize((right - left, bottom - top), Image.Resampling.LANCZOS)
            candidate = self.full.copy()
            candidate.paste(region, (left, top))
        return Image.composite(candidate, self.full, self.overlay)


def plan_inpaint(
    request: GenerationRequest, init_image: Image.Image, mask: Image.Image
) -> InpaintPlan:
    """The plan for `init_image` and `mask`, both already at the request size."""
    from PIL import Image, ImageOps

    extra: dict[str, object] = {}
    mask = mask.convert("L")
    if request.mask_invert:
        mask = ImageOps.invert(mask)
        extra["Mask mode"] = "Inpaint not masked"
    if request.mask_blur > 0:
        mask = blur(mask, request.mask_blur)
        extra["Mask blur"] = request.mask_blur
    full = init_image.convert("RGB")
    box = None
    image, denoise_mask = full, mask
    if request.inpaint_only_masked:
        box = crop_box(mask, request.inpaint_padding)
        if box is None:
            raise InvalidRequest(
                "mask", request.mask, "is empty: inpaint_only_masked needs a masked area"
            )
        size = full.size
        image = full.crop(box).resize(size, Image.Resampling.LANCZOS)
        denoise_mask = mask.crop(box).resize(size, Image.Resampling.LANCZOS)
        overlay = mask
        extra["Inpaint area"] = "Only masked"
        extra["Masked area padding"] = request.inpaint_padding
    else:
        overlay = mask.point(lambda value: min(255, value * 2))
    if request.inpaint_fill == "fill":
        image = fill(image, denoise_mask)
    if request.inpaint_fill != "original":
        extra["Masked content"] = request.inpaint_fill
    return InpaintPlan(image, denoise_mask, full, overlay, box, extra)


def blur(mask: Image.Image, radius: int) -> Image.Image:
    """A Gaussian blur with standard deviation `radius` pixels (A1111's mask blur)."""
    from PIL import ImageFilter

    return mask.filter(ImageFilter.GaussianBlur(radius))


def crop_box(mask: Image.Image, padding: int) -> Box | None:
    """The bounding box of the mask's non-black pixels plus `padding`, widened (within
    the image) to the image's aspect ratio, so the crop scales to the request size
    without distortion; None for an empty mask."""
    found = mask.getbbox()
    if found is None:
        return None
    width, height = mask.size
    left, top, right, bottom = found
    left, top = max(left - padding, 0), max(top - padding, 0)
    right, bottom = min(right + padding, width), min(bottom + padding, height)
    # Widen the narrow side: box width / box height == width / height.
    box_w, box_h = right - left, bottom - top
    if box_w * height < box_h * width:
        left, right = _widen(left, right, min(width, -(-box_h * width // height)), width)
    else:
        top, bottom = _widen(top, bottom, min(height, -(-box_w * height // width)), height)
    return left, top, right, bottom


def _widen(start: int, end: int, length: int, limit: int) -> tuple[int, int]:
    """[start, end) grown evenly to `length`, shifted to stay within [0, limit)."""
    grow = length - (end - start)
    start -= grow // 2
    end += grow - grow // 2
    if start < 0:
        start, end = 0, end - start
    if end > limit:
        start, end = start - (end - limit), limit
    return start, end


def fill(image: Image.Image, mask: Image.Image) -> Image.Image:
    """`image` with its masked area painted from the colours around it ("fill")."""
    from PIL import Image, ImageFilter, ImageOps

    # The unmasked pixels with the mask as transparency, premultiplied ("RGBa"): a blur
    # then spreads their colours into the hole without darkening them.
    known = image.convert("RGB")
    known.putalpha(ImageOps.invert(mask.convert("L")))
    known = known.convert("RGBa")
    painted = Image.new("RGBA", image.size)
    for radius, repeats in FILL_PASSES:
        layer = known.filter(ImageFilter.GaussianBlur(radius)) if radius else known
        layer = layer.convert("RGBA")
        for _ in range(repeats):
            painted.alpha_composite(layer)
    return painted.convert("RGB")
