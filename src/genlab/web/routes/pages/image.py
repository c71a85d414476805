"""One image's page, deleting it, and the tools sent from it (recolour, upscale,
style transfer): each queues a job and opens its page; errors stay on the image."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.web import errors, gallery
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.routes.jobs import submit
from genlab.web.routes.pages.shared import (
    ImageId,
    error_page,
    job_body,
    parse_number,
    render,
    shown_error,
    text_fields,
)
from genlab.web.schemas import ImageDetail, RecolorJobCreate, StyleJobCreate, UpscaleJobCreate
from genlab.web.studio import Studio

router = APIRouter(include_in_schema=False)


@router.get("/images/{image_id}", response_class=HTMLResponse)
def image_page(image_id: ImageId, request: Request, session: SessionDep) -> HTMLResponse:
    try:
        return render(request, "image.html", image_context(session, image_id))
    except GenlabError as err:
        return error_page(request, err)


def image_context(session: Session, image_id: int, error: str | None = None) -> dict[str, Any]:
    from genlab.core.metadata import parse_parameters
    from genlab.services import tools

    PRESETS, MODEL_NAMES = tools.palette_presets(), tools.upscale_models()

    image = gallery.get_image(session, image_id)
    detail = ImageDetail.of(image)  # its text repaired, if an older version stored it broken
    parsed = parse_parameters(detail.parameters) if detail.parameters.strip() else None
    return {
        "image": detail,
        "fields": parsed.params if parsed else {},
        "palettes": {name: description for name, (description, _) in PRESETS.items()},
        "upscalers": MODEL_NAMES,
        "error": error,
    }


@router.post("/images/{image_id}/delete")
def delete_image(
    image_id: ImageId, request: Request, studio: StudioDep, session: SessionDep, user: CurrentUser
) -> Response:
    try:
        gallery.delete_image(session, studio.store, image_id, user_id=user.id)
    except GenlabError as err:
        return _image_error(request, session, image_id, err)
    return RedirectResponse(f"/gallery?deleted={image_id}", status_code=303)


@router.post("/images/{image_id}/recolor")
async def recolor_image(
    image_id: ImageId, request: Request, studio: StudioDep, user: CurrentUser
) -> Response:
    """Send to recolour: onto a palette preset (or '#hex,#hex,…')."""
    fields = text_fields(await request.form())

    def body() -> RecolorJobCreate:
        strength = parse_number(fields, "strength", float)
        return job_body(
            RecolorJobCreate,
            kind="recolor",
            image_id=image_id,
            palette=fields.get("palette", "").strip() or None,
            strength=1.0 if strength is None else strength,
        )

    return await run_in_threadpool(_send_to, request, studio, user.id, image_id, body)


@router.post("/images/{image_id}/upscale")
async def upscale_image(
    image_id: ImageId, request: Request, studio: StudioDep, user: CurrentUser
) -> Response:
    """Send to upscale: ×2 or ×4 with the shipped ESPCN or a resampler."""
    fields = text_fields(await request.form())

    def body() -> UpscaleJobCreate:
        scale = parse_number(fields, "scale", int)
        model = fields.get("model") or "espcn"
        return job_body(
            UpscaleJobCreate, kind="upscale", image_id=image_id, scale=scale or 2, model=model
        )

    return await run_in_threadpool(_send_to, request, studio, user.id, image_id, body)


@router.post("/images/{image_id}/style")
async def style_image(
    image_id: ImageId, request: Request, studio: StudioDep, user: CurrentUser
) -> Response:
    """Send to style transfer: this image as the content, the style from an upload or
    another gallery image; the other settings are `genlab style`'s defaults."""
    form = await request.form()
    fields = text_fields(form)
    upload = form.get("style_image")
    data = await upload.read() if isinstance(upload, UploadFile) and upload.filename else None

    def body() -> StyleJobCreate:
        style_id = None if data else parse_number(fields, "style_image_id", int)
        if not data and style_id is None:
            raise InvalidRequest("style_image", None, "upload a style image or give a gallery id")
        return job_body(
            StyleJobCreate,
            kind="style",
            content_image_id=image_id,
            style_image=base64.b64encode(data).decode("ascii") if data else None,
            style_image_id=style_id,
            size=parse_number(fields, "size", int),
            preserve_colours="preserve_colours" in fields,
        )

    return await run_in_threadpool(_send_to, request, studio, user.id, image_id, body)


def _send_to(request: Request, studio: Studio, user_id: int, image_id: int, body: Any) -> Response:
    """Queue a tool job on an image and open its job page; errors stay on the image."""
    with studio.sessions() as session:
        try:
            job = submit(studio, session, user_id, body())
        except GenlabError as err:
            return _image_error(request, session, image_id, err)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _image_error(
    request: Request, session: Session, image_id: int, err: GenlabError
) -> HTMLResponse:
    try:
        context = image_context(session, image_id, shown_error(err))
    except GenlabError:
        return error_page(request, err)  # the image itself is gone
    return render(request, "image.html", context, status=errors.status_of(err))
