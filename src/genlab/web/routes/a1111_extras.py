"""A1111's Extras under /sdapi/v1: upscale one image or a batch with genlab's upscalers.

Shapes follow A1111's modules/api/models.py (ExtrasSingleImageRequest/Response,
ExtrasBatchImagesRequest/Response). Face restoration needs GFPGAN or CodeFormer
weights, which genlab has not got: a visibility above 0 is refused, not ignored.
The answer's PNG keeps the input's `parameters` and adds A1111's `postprocessing`
text, as A1111's API encoder does.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from genlab.core.errors import InvalidRequest
from genlab.services.extras import MAX_FACTOR, ExtrasUpscale, run_extras
from genlab.web.deps import StudioDep
from genlab.web.settings import Settings
from genlab.web.uploads import check_image, decode_base64

router = APIRouter(prefix="/sdapi/v1", tags=["a1111"])
MAX_BATCH = 16  # images in one extra-batch-images request
MAX_SIZE = 8192  # a side asked for with resize_mode 1


class ExtrasRequest(BaseModel):
    resize_mode: int = Field(0, ge=0, le=1, description="0: by upscaling_resize, 1: to a size")
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0.0, ge=0, le=1)
    codeformer_visibility: float = Field(0.0, ge=0, le=1)
    codeformer_weight: float = Field(0.0, ge=0, le=1)
    upscaling_resize: float = Field(2.0, gt=0, le=MAX_FACTOR)
    upscaling_resize_w: int = Field(512, ge=1, le=MAX_SIZE)
    upscaling_resize_h: int = Field(512, ge=1, le=MAX_SIZE)
    upscaling_crop: bool = True
    upscaler_1: str = Field("None", max_length=200)
    upscaler_2: str = Field("None", max_length=200)
    extras_upscaler_2_visibility: float = Field(0.0, ge=0, le=1)
    upscale_first: bool = False


class ExtrasSingleImageRequest(ExtrasRequest):
    image: str = Field("", description="Base64 image, or a data: URI.")


class FileData(BaseModel):
    data: str = Field(description="Base64 image, or a data: URI.")
    name: str = Field("", max_length=255)


class ExtrasBatchImagesRequest(ExtrasRequest):
    imageList: list[FileData] = Field(max_length=MAX_BATCH)


class ExtrasSingleImageResponse(BaseModel):
    html_info: str
    image: str


class ExtrasBatchImagesResponse(BaseModel):
    html_info: str
    images: list[str]


@router.post("/extra-single-image")
async def extra_single_image(
    body: ExtrasSingleImageRequest, studio: StudioDep
) -> ExtrasSingleImageResponse:
    if not body.image:
        raise InvalidRequest("image", body.image, "needs one base64 image")
    [image], info = await run_in_threadpool(_run, studio.settings, body, [body.image])
    return ExtrasSingleImageResponse(html_info=info, image=image)


@router.post("/extra-batch-images")
async def extra_batch_images(
    body: ExtrasBatchImagesRequest, studio: StudioDep
) -> ExtrasBatchImagesResponse:
    if not body.imageList:
        raise InvalidRequest("imageList", [], f"needs 1 to {MAX_BATCH} images")
    given = [item.data for item in body.imageList]
    images, info = await run_in_threadpool(_run, studio.settings, body, given)
    return ExtrasBatchImagesResponse(html_info=info, images=images)


def _run(settings: Settings, body: ExtrasRequest, encoded: list[str]) -> tuple[list[str], str]:
    _refuse_face_restoration(body)
    job = ExtrasUpscale(
        upscaler_1=body.upscaler_1,
        upscaler_2=body.upscaler_2,
        upscaler_2_visibility=body.extras_upscaler_2_visibility,
        factor=body.upscaling_resize,
        size=(body.upscaling_resize_w, body.upscaling_resize_h) if body.resize_mode else None,
        crop=body.upscaling_crop,
        max_pixels=settings.max_upload_pixels,
    )
    # Every image is decoded and checked before the first is upscaled.
    inputs = []
    for index, text in enumerate(encoded):
        what = "image" if len(encoded) == 1 else f"imageList[{index}]"
        data = decode_base64(text, max_bytes=settings.max_upload_bytes, what=what)
        inputs.append(
            check_image(
                data,
                max_bytes=settings.max_upload_bytes,
                max_pixels=settings.max_upload_pixels,
                what=what,
            ).image
        )
    outputs, info = [], ""
    for image in inputs:
        upscaled, params = run_extras(image, job)
        info = ", ".join(f"{key}: {value}" for key, value in params.items())
        outputs.append(_encode(upscaled, _parameters(image), info))
    return outputs, f"<p>{html.escape(info)}</p>" if info else ""


def _refuse_face_restoration(body: ExtrasRequest) -> None:
    for name in ("gfpgan_visibility", "codeformer_visibility"):
        if getattr(body, name) > 0:
            raise InvalidRequest(
                name,
                getattr(body, name),
                "face restoration needs GFPGAN/CodeFormer weights, which this server has "
                "not got (GET /sdapi/v1/face-restorers is empty); use 0",
            )


def _parameters(image: Any) -> str | None:
    """The input's A1111 parameters, from a PNG chunk or JPEG/WebP EXIF."""
    from genlab.core.imageio import read_metadata

    return read_metadata(image).parameters


def _encode(image: Any, parameters: str | None, postprocessing: str) -> str:
    """A base64 PNG keeping the input's `parameters` and adding `postprocessing`."""
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    if parameters:
        meta.add_text("parameters", parameters)
    if postprocessing:
        meta.add_text("postprocessing", postprocessing)
        meta.add_text("extras", postprocessing)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=meta)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
