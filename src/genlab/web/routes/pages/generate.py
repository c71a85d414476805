"""The Generate page (/): txt2img, or img2img from an upload, a gallery image or an
earlier job's stored input; /generate queues what the form asks for."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import INPAINT_FILLS
from genlab.web import errors, gallery, jobs, options, styles
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.routes.jobs import submit
from genlab.web.routes.pages.shared import (
    OptionalId,
    error_page,
    form_values,
    is_htmx,
    job_body,
    model_choices,
    parse_number,
    render,
    shown_error,
    text_fields,
)
from genlab.web.schemas import GenerateJobCreate, ImageDetail, Img2ImgJobCreate, JobPublic
from genlab.web.store import INPUTS
from genlab.web.studio import Studio

router = APIRouter(include_in_schema=False)
DESCRIPTOR_LABELS = {"colour": "Colour", "lighting": "Lighting", "style": "Style", "mood": "Mood"}


@dataclass(frozen=True)
class InitImage:
    """An init image the form already holds: a gallery image, or a stored input."""

    field: str  # "init_image_id" or "init_image_path"
    value: str
    url: str
    label: str


def generate_context(
    session: Session,
    values: dict[str, str] | None = None,
    *,
    init: InitImage | None = None,
    notice: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    from genlab.services.sweeps import descriptor_sets

    DESCRIPTOR_SETS = descriptor_sets()

    choices = model_choices()
    default = options.default_model(session)
    if values is None:
        choice = next((c for c in choices if c.name == default), choices[0])
        values = form_values({"model": choice.name, **choice.defaults, "seed": -1})
        values.update(batch_size="1", strength="0.75")
    return {
        "values": values,
        "models": choices,
        "model_data": {c.name: asdict(c) for c in choices},
        "descriptors": {DESCRIPTOR_LABELS[k]: v for k, v in DESCRIPTOR_SETS.items()},
        "init": init,
        "notice": notice,
        "error": error,
        "inpaint_fills": INPAINT_FILLS,
        # Presets are the descriptor chips above; imported styles get a select.
        "user_styles": styles.user_styles(session),
    }


@router.get("/", response_class=HTMLResponse)
def generate_page(
    request: Request,
    studio: StudioDep,
    session: SessionDep,
    from_image: OptionalId = None,
    init_image_id: OptionalId = None,
) -> HTMLResponse:
    """The Generate page; `from_image` pre-fills it with that image's request (its own
    seed, so the same pixels come back), `init_image_id` starts an img2img from it."""
    try:
        values, init, notice = None, None, None
        if from_image is not None:
            values, init, notice = _settings_of(studio, session, from_image)
        if init_image_id is not None:
            image = gallery.get_image(session, init_image_id)
            init = InitImage(
                "init_image_id", str(image.id), f"/files/{image.path}", f"image {image.id}"
            )
        context = generate_context(session, values, init=init, notice=notice)
    except GenlabError as err:
        return error_page(request, err)
    return render(request, "generate.html", context)


def _settings_of(
    studio: Studio, session: Session, image_id: int
) -> tuple[dict[str, str], InitImage | None, str | None]:
    """The form values that remake an image, its init image, and a note if something
    could not be carried over."""
    image = gallery.get_image(session, image_id)
    detail = ImageDetail.of(image)
    notice = None
    if detail.request is None:
        fields: dict[str, Any] = {"prompt": image.prompt, "negative_prompt": image.negative_prompt}
        fields.update(seed=image.seed, model=image.model)
        notice = f"image {image.id} has no genlab record; only its prompts and seed were copied"
    else:
        fields = dict(detail.request)
    try:
        fields["model"] = options.check_model(str(fields.get("model") or ""))
    except InvalidRequest:
        missing = fields.get("model")
        fields["model"] = options.default_model(session)
        notice = f"model {missing!r} is not on this server; {fields['model']} is selected instead"
    init = None
    path = fields.get("init_image")
    if path and studio.store.resolve(path).is_file():
        init = InitImage("init_image_path", path, f"/files/{path}", "the original init image")
    if fields.get("mask"):
        notice = "the inpainting mask is not carried over; this form makes a plain img2img"
    return form_values(fields), init, notice


@router.post("/generate")
async def generate_submit(request: Request, studio: StudioDep, user: CurrentUser) -> Response:
    """Queue what the form asks for: the new job's card (htmx), or its page."""
    form = await request.form()
    fields = text_fields(form)
    data, mask = await _upload(form, "init_image"), await _upload(form, "mask")
    try:
        job = await run_in_threadpool(_queue_generation, studio, user.id, fields, data, mask)
    except GenlabError as err:
        return await run_in_threadpool(_generate_error, request, studio, fields, err)
    if not is_htmx(request):
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)
    return render(request, "_job.html", {"job": job, "clear_error": True})


async def _upload(form: FormData, name: str) -> bytes | None:
    """A file part's bytes, or None when no file was chosen."""
    upload = form.get(name)
    return await upload.read() if isinstance(upload, UploadFile) and upload.filename else None


def _queue_generation(
    studio: Studio,
    user_id: int,
    fields: dict[str, str],
    upload: bytes | None,
    mask: bytes | None = None,
) -> JobPublic:
    with studio.sessions() as session:
        job = submit(studio, session, user_id, job_create(studio, fields, upload, mask))
        return JobPublic.of(jobs.view(session, studio.hub, job.id))


def job_create(
    studio: Studio, fields: dict[str, str], upload: bytes | None, mask: bytes | None = None
) -> GenerateJobCreate | Img2ImgJobCreate:
    """The API's job body for a Generate form: txt2img, or img2img when it holds an
    init image (an upload, a gallery image or the stored input of an earlier job),
    inpainting with the form's mask options when a mask is uploaded too."""
    values: dict[str, Any] = {
        "prompt": fields.get("prompt", ""),
        "negative_prompt": fields.get("negative_prompt", ""),
        "model": fields.get("model") or None,
        "sampler": fields.get("sampler") or None,
        "schedule": fields.get("schedule") or None,
        "steps": parse_number(fields, "steps", int),
        "guidance_scale": parse_number(fields, "guidance_scale", float),
        "width": parse_number(fields, "width", int),
        "height": parse_number(fields, "height", int),
    }
    if fields.get("style"):
        values["styles"] = [fields["style"]]
    for name, default in (("seed", -1), ("batch_size", 1)):
        given = parse_number(fields, name, int)
        values[name] = default if given is None else given
    init_data, init_id = None, None
    if upload:
        init_data = base64.b64encode(upload).decode("ascii")
    elif fields.get("init_image_id"):
        init_id = parse_number(fields, "init_image_id", int)
    elif fields.get("init_image_path"):
        init_data = base64.b64encode(_stored_input(studio, fields["init_image_path"])).decode()
    if init_data is None and init_id is None:
        return job_body(GenerateJobCreate, kind="generate", **values)
    if mask:  # the mask options mean nothing (and are refused) without a mask
        values.update(
            mask=base64.b64encode(mask).decode("ascii"),
            mask_blur=parse_number(fields, "mask_blur", int),
            mask_invert=fields.get("mask_invert") == "on",
            inpaint_fill=fields.get("inpaint_fill") or None,
            inpaint_only_masked=fields.get("inpaint_only_masked") == "on",
            inpaint_padding=parse_number(fields, "inpaint_padding", int),
        )
    return job_body(
        Img2ImgJobCreate,
        kind="img2img",
        init_image=init_data,
        init_image_id=init_id,
        strength=parse_number(fields, "strength", float),
        **values,
    )


def _stored_input(studio: Studio, path: str) -> bytes:
    """An earlier job's init image, read back from the store (inputs/ only)."""
    if path.split("/", 1)[0] != INPUTS:
        raise InvalidRequest("init_image_path", path, f"a stored input under {INPUTS}/")
    target = studio.store.resolve(path)
    if not target.is_file():
        raise InvalidRequest("init_image_path", path, "that input is gone; upload the image")
    return target.read_bytes()


def _generate_error(
    request: Request, studio: Studio, fields: dict[str, str], err: GenlabError
) -> HTMLResponse:
    message = shown_error(err)
    if is_htmx(request):
        # Always 422 here: the page's script swaps HTML error replies into the slot.
        return render(
            request,
            "_form_error.html",
            {"error": message},
            status=422,
            **{"HX-Retarget": "#form-error", "HX-Reswap": "innerHTML"},
        )
    with studio.sessions() as session:
        context = generate_context(session, form_values(fields), error=message)
    return render(request, "generate.html", context, status=errors.status_of(err))
