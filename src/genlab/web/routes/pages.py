"""The studio's pages: Generate (/), Sweep, Queue, Gallery, one image, one job.

Server-rendered HTML (Jinja2 templates in web/templates) with htmx for partial
updates and a little plain JavaScript (static/studio.js) that follows a job's
Server-Sent Events. Every action calls the service the JSON API calls
(routes.jobs.submit, jobs, gallery); the pages only turn forms into those calls and
results into HTML.

Forms carry the `csrf_token` field the guard checks. A GenlabError becomes one line
on the page: the whole page again with a 4xx status, or, for an htmx request, the
line alone, aimed at the form's error slot with HX-Retarget.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from itertools import pairwise
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import INPAINT_FILLS, MASK_OPTIONS, check_text
from genlab.core.text import printable, repair
from genlab.services import catalog
from genlab.web import errors, gallery, jobs, kinds, options
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.routes.jobs import submit
from genlab.web.schemas import (
    CellPublic,
    GenerateJobCreate,
    ImageDetail,
    ImagePublic,
    Img2ImgJobCreate,
    JobPublic,
    RecolorJobCreate,
    StyleJobCreate,
    SweepJobCreate,
    UpscaleJobCreate,
)
from genlab.web.store import INPUTS
from genlab.web.studio import Studio

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

    from genlab.core.engine import ModelInfo
    from genlab.web.models import Job

router = APIRouter(include_in_schema=False)
JobBody = TypeVar("JobBody", bound=BaseModel)
PAGE_SIZE = 24  # gallery thumbnails per page: 4 rows of 6 on a laptop screen
QUEUE_SIZE = 100
DESCRIPTOR_LABELS = {"colour": "Colour", "lighting": "Lighting", "style": "Style", "mood": "Mood"}
# Settings the Generate form shows for every model; a model that ignores some of
# them (Shapes World draws exactly what the prompt says) gets them greyed out.
SETTINGS = ("steps", "guidance_scale", "sampler", "schedule")
# Ids in paths and queries go to the database as they are: SQLite stops at 2**63 - 1.
ImageId = Annotated[int, Path(ge=1, le=gallery.MAX_ID)]
JobId = Annotated[int, Path(ge=1, le=gallery.MAX_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=gallery.MAX_ID)]
# Far past the last page of any gallery; the offset it makes stays a 64-bit integer.
MAX_PAGE_NUMBER = gallery.MAX_OFFSET // PAGE_SIZE
MAX_FILTER_CHARS = 64  # a date, a role or a time zone name


# -- rendering ---------------------------------------------------------------------------


@cache
def _templates() -> Jinja2Templates:
    from fastapi.templating import Jinja2Templates

    from genlab.core.version import __version__

    templates = Jinja2Templates(directory=FilePath(__file__).parents[1] / "templates")
    templates.env.globals.update(
        version=__version__, job_title=job_title, job_details=job_details, sweep_grid=sweep_grid
    )
    templates.env.filters.update(duration=duration, number=number)
    return templates


def render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200, **headers: str
) -> HTMLResponse:
    studio: Studio = request.app.state.studio
    base = {
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "signed_in": bool(studio.settings.token),
        "path": request.url.path,
    }
    return _templates().TemplateResponse(
        request, name, {**base, **context}, status_code=status, headers=headers or None
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_page(request: Request, err: GenlabError) -> HTMLResponse:
    return render(request, "error.html", {"error": shown_error(err)}, status=errors.status_of(err))


def shown_error(err: GenlabError) -> str:
    """An error as a page shows it: one printable line."""
    return printable(errors.one_line(str(err)), newlines=False)


def duration(seconds: float | None) -> str:
    """A wait in words ("about 40 s", "about 3 min"); a dash when unknown."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"about {max(round(seconds), 1)} s"
    return f"about {round(seconds / 60)} min"


def number(value: object) -> str:
    """7.0 → "7", 7.5 → "7.5": form fields show numbers as people type them."""
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def job_title(job: JobPublic) -> str:
    return kinds.title(job.kind, job.request)


def job_details(job: JobPublic) -> list[str]:
    """The few settings worth a glance on a job card."""
    if job.kind == "sweep":
        return ["sweep", job.model or "", f"{job.request.get('cells')} images"]
    if job.kind not in ("generate", "img2img"):
        return [job.kind] + ([job.model] if job.model else [])
    request = job.request.get("request", {})
    size = f"{request['width']}×{request['height']}" if request.get("width") else "model's size"
    count = request.get("batch_size", 1) * job.request.get("n_iter", 1)
    details = [job.kind, request.get("model", ""), f"seed {request.get('seed')}", size]
    if count > 1:
        details.append(f"{count} images")
    return details


# -- models on the Generate form ---------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """A model as the Generate form offers it (the script switches fields by it)."""

    name: str
    description: str
    defaults: dict[str, Any]  # the model's tuned steps, guidance, sampler, schedule
    samplers: tuple[str, ...]
    schedules: tuple[str, ...]
    ignores: tuple[str, ...]  # form fields this model's engine does not use
    native: int | None  # the side it draws when width and height are left blank


def model_choices() -> list[ModelChoice]:
    from genlab.services.catalog import local_models

    return [_choice(info) for info in local_models()]


def _choice(info: ModelInfo) -> ModelChoice:
    from genlab.core.samplers import SAMPLERS, SCHEDULES
    from genlab.services.generation import new_request

    request = new_request(model=info.name, prompt="")
    defaults = {name: getattr(request, name) for name in SETTINGS}
    samplers, schedules = SAMPLERS, SCHEDULES
    ignores = catalog.ignored_settings(info.name) if info.engine == "procedural" else ()
    # Flow-matching models only sample with their own samplers; the engine refuses others.
    samplers, schedules = catalog.model_samplers(info.name) or (samplers, schedules)
    native = catalog.native_side(info.name)  # what submissions are checked against too
    return ModelChoice(info.name, info.description, defaults, samplers, schedules, ignores, native)


# -- Generate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InitImage:
    """An init image the form already holds: a gallery image, or a stored input."""

    field: str  # "init_image_id" or "init_image_path"
    value: str
    url: str
    label: str


def form_values(fields: dict[str, Any]) -> dict[str, str]:
    """Request fields as the form's text values (None → blank)."""
    keys = (
        "prompt",
        "negative_prompt",
        "model",
        *SETTINGS,
        "width",
        "height",
        "seed",
        "batch_size",
        "strength",
        *MASK_OPTIONS,
    )
    # Shown again as typed, but never with text no page can encode (lone surrogates).
    return {key: repair(number(fields.get(key))) for key in keys}


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


def text_fields(form: FormData) -> dict[str, str]:
    """A posted form's text fields (files apart)."""
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


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
        "steps": _number(fields, "steps", int),
        "guidance_scale": _number(fields, "guidance_scale", float),
        "width": _number(fields, "width", int),
        "height": _number(fields, "height", int),
    }
    for name, default in (("seed", -1), ("batch_size", 1)):
        given = _number(fields, name, int)
        values[name] = default if given is None else given
    init_data, init_id = None, None
    if upload:
        init_data = base64.b64encode(upload).decode("ascii")
    elif fields.get("init_image_id"):
        init_id = _number(fields, "init_image_id", int)
    elif fields.get("init_image_path"):
        init_data = base64.b64encode(_stored_input(studio, fields["init_image_path"])).decode()
    if init_data is None and init_id is None:
        return job_body(GenerateJobCreate, kind="generate", **values)
    if mask:  # the mask options mean nothing (and are refused) without a mask
        values.update(
            mask=base64.b64encode(mask).decode("ascii"),
            mask_blur=_number(fields, "mask_blur", int),
            mask_invert=fields.get("mask_invert") == "on",
            inpaint_fill=fields.get("inpaint_fill") or None,
            inpaint_only_masked=fields.get("inpaint_only_masked") == "on",
            inpaint_padding=_number(fields, "inpaint_padding", int),
        )
    return job_body(
        Img2ImgJobCreate,
        kind="img2img",
        init_image=init_data,
        init_image_id=init_id,
        strength=_number(fields, "strength", float),
        **values,
    )


def job_body(schema: type[JobBody], **values: Any) -> JobBody:
    """The API's job body from a form's values. What the schema refuses (a gallery id
    out of range) becomes the form's one-line error, like any other bad value."""
    try:
        return schema(**values)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "form"
        raise InvalidRequest(field, first.get("input"), first.get("msg", "invalid")) from None


def _number(fields: dict[str, str], name: str, kind: type[int] | type[float]) -> Any:
    text = fields.get(name, "").strip()
    if not text:
        return None  # blank: the model's default
    try:
        return kind(text)
    except ValueError:
        allowed = "a whole number" if kind is int else "a number"
        raise InvalidRequest(name, text, f"must be {allowed}") from None


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


# -- Sweep -------------------------------------------------------------------------------

AXES = ("x", "y", "z")


def sweep_context(
    session: Session, values: dict[str, str] | None = None, *, error: str | None = None
) -> dict[str, Any]:
    """The Sweep form: the Generate form's models and settings, plus three axes."""
    choices = model_choices()
    if values is None:
        default = options.default_model(session)
        choice = next((c for c in choices if c.name == default), choices[0])
        values = form_values({"model": choice.name, **choice.defaults, "seed": -1})
        values.update(dict.fromkeys(AXES, ""))
    return {
        "values": values,
        "models": choices,
        "model_data": {c.name: asdict(c) for c in choices},
        "error": error,
    }


def sweep_values(fields: dict[str, str]) -> dict[str, str]:
    """A posted Sweep form's values, to show it again as it was sent."""
    return {**form_values(fields), **{axis: repair(fields.get(axis, "")) for axis in AXES}}


@router.get("/sweep", response_class=HTMLResponse)
def sweep_page(request: Request, session: SessionDep) -> HTMLResponse:
    """An X/Y/Z plot: one prompt, up to three settings varied, one image per cell."""
    try:
        context = sweep_context(session)
    except GenlabError as err:
        return error_page(request, err)
    return render(request, "sweep.html", context)


@router.post("/sweep")
async def sweep_submit(request: Request, studio: StudioDep, user: CurrentUser) -> Response:
    """Queue the sweep and open its job page, where the grid fills in."""
    fields = text_fields(await request.form())
    try:
        job = await run_in_threadpool(_queue_sweep, studio, user.id, fields)
    except GenlabError as err:
        return await run_in_threadpool(_sweep_error, request, studio, fields, err)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _queue_sweep(studio: Studio, user_id: int, fields: dict[str, str]) -> Job:
    with studio.sessions() as session:
        return submit(studio, session, user_id, sweep_create(fields))


def sweep_create(fields: dict[str, str]) -> SweepJobCreate:
    """The API's job body for a Sweep form; blank settings and axes are left out."""
    seed = _number(fields, "seed", int)
    return job_body(
        SweepJobCreate,
        kind="sweep",
        prompt=fields.get("prompt", ""),
        negative_prompt=fields.get("negative_prompt") or None,
        model=fields.get("model") or None,
        sampler=fields.get("sampler") or None,
        schedule=fields.get("schedule") or None,
        steps=_number(fields, "steps", int),
        guidance_scale=_number(fields, "guidance_scale", float),
        width=_number(fields, "width", int),
        height=_number(fields, "height", int),
        seed=-1 if seed is None else seed,
        **{axis: fields.get(axis, "").strip() or None for axis in AXES},
    )


def _sweep_error(
    request: Request, studio: Studio, fields: dict[str, str], err: GenlabError
) -> HTMLResponse:
    message = shown_error(err)
    with studio.sessions() as session:
        context = sweep_context(session, sweep_values(fields), error=message)
    return render(request, "sweep.html", context, status=errors.status_of(err))


@dataclass(frozen=True)
class SweepGrid:
    """A sweep job's cells laid out as its contact sheets are: X values across, Y values
    down, one table per Z value. A slot holds its cell once made, None until then."""

    titles: tuple[str, str, str]  # the x, y and z axes' names; "" for an unused axis
    columns: tuple[str, ...]
    # per Z value: its label and rows; a row is its Y label and (cell index, cell) slots
    sheets: list[tuple[str, list[tuple[str, list[tuple[int, CellPublic | None]]]]]]


def sweep_grid(job: JobPublic) -> SweepGrid:
    axes = job.request["axes"]
    columns, rows, _ = job.request["shape"]
    made = {cell.index: cell for cell in job.cells or []}
    sheets = []
    for z, z_label in enumerate(axes[2]["labels"]):
        table = []
        for y, y_label in enumerate(axes[1]["labels"]):
            # Cells are numbered as they run: columns fastest, then rows, then sheets.
            first = (z * rows + y) * columns
            slots = [(i, made.get(i)) for i in range(first, first + columns)]
            table.append((y_label, slots))
        sheets.append((z_label, table))
    titles = (axes[0]["title"], axes[1]["title"], axes[2]["title"])
    return SweepGrid(titles, tuple(axes[0]["labels"]), sheets)


# -- jobs and the queue ------------------------------------------------------------------


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: JobId, request: Request, studio: StudioDep, session: SessionDep) -> Response:
    return _job(request, studio, session, job_id, "job.html")


@router.get("/jobs/{job_id}/sweep", response_class=HTMLResponse)
def job_sweep(job_id: JobId, request: Request, studio: StudioDep, session: SessionDep) -> Response:
    """A sweep job's grid (the script fetches it when the job's event stream ends)."""
    return _job(request, studio, session, job_id, "_sweep.html")


@router.get("/jobs/{job_id}/card", response_class=HTMLResponse)
def job_card(job_id: JobId, request: Request, studio: StudioDep, session: SessionDep) -> Response:
    """One job's card (the script fetches it when the job's event stream ends)."""
    return _job(request, studio, session, job_id, "_job.html")


def _job(request: Request, studio: Studio, session: Session, job_id: int, name: str) -> Response:
    try:
        job = JobPublic.of(jobs.view(session, studio.hub, job_id))
    except GenlabError as err:
        return error_page(request, err)
    return render(request, name, {"job": job})


@router.post("/jobs/{job_id}/cancel")
def cancel_job(
    job_id: JobId, request: Request, studio: StudioDep, session: SessionDep, user: CurrentUser
) -> Response:
    """Cancel from a card or the queue. The job's event stream reports the end, so an
    htmx caller only needs to hear that the queue changed."""
    try:
        jobs.cancel(session, studio.hub, job_id, user_id=user.id)
    except GenlabError as err:
        if is_htmx(request):
            raise  # the JSON error handler answers; the page's script shows the line
        return error_page(request, err)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Trigger": "queue-changed"})
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, studio: StudioDep, session: SessionDep) -> HTMLResponse:
    views = jobs.list_jobs(session, studio.hub, limit=QUEUE_SIZE)
    items = [JobPublic.of(view) for view in views]
    active = [job for job in items if job.state in ("queued", "running")]
    return render(request, "queue.html", {"jobs": items, "active": len(active)})


# -- the gallery and one image -----------------------------------------------------------


@router.get("/gallery", response_class=HTMLResponse)
async def gallery_page(
    request: Request,
    studio: StudioDep,
    q: str = "",
    model: str = "",
    since: str = "",
    until: str = "",
    tz: str = "",
    role: str = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER)] = 1,
    deleted: OptionalId = None,
) -> HTMLResponse:
    """Newest first, searchable by prompt words, filtered by model, day (days in the
    browser's time zone, which the page's script puts in `tz`) and role."""
    filters = {"q": q, "model": model, "since": since, "until": until, "tz": tz, "role": role}
    shown = {key: repair(value) for key, value in filters.items()}  # the form, as typed

    def read() -> HTMLResponse:
        with studio.sessions() as session:
            return _gallery(request, session, filters, shown, page, deleted)

    return await studio.read(read)


def _gallery(
    request: Request,
    session: Session,
    filters: dict[str, str],
    shown: dict[str, str],
    page: int,
    deleted: int | None,
) -> HTMLResponse:
    keys = ("q", "model", "since", "until", "tz", "role")
    q, model, since, until, tz, role = (filters[key] for key in keys)
    context: dict[str, Any] = {
        "filters": shown,
        "models": gallery.models_in_gallery(session),
        "deleted": deleted,
        "items": [],
        "total": 0,
        "pages": [],
        "count": 0,
        "page": 1,
        "error": None,
    }
    try:
        for key in ("since", "until", "tz", "role"):
            check_text(filters[key], key, max_chars=MAX_FILTER_CHARS)
        zone = _zone(tz)
        start = _day(since, "since", zone)
        end = _day(until, "until", zone)
        page = max(page, 1)
        found = gallery.search(
            session,
            query=q,
            model=model or None,
            since=start,
            until=None if end is None else end + timedelta(days=1, microseconds=-1),
            role=role or None,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    except GenlabError as err:
        context["error"] = shown_error(err)
        return render(request, "gallery.html", context, status=errors.status_of(err))
    count = max(math.ceil(found.total / PAGE_SIZE), 1)
    kept = {key: value for key, value in filters.items() if value}
    context.update(
        items=[ImagePublic.of(image) for image in found.items],
        total=found.total,
        page=page,
        pages=[
            (n, None if n is None else "/gallery?" + urlencode({**kept, "page": n}))
            for n in pager(page, count)
        ],
        count=count,
        filtered=any(value for key, value in filters.items() if key != "tz"),
    )
    return render(request, "gallery.html", context)


def pager(page: int, count: int, *, around: int = 2) -> list[int | None]:
    """Page numbers to link: the first, the last and `around` either side of `page`,
    with None where numbers are skipped. 10,000 images are 417 pages; a link to
    each would be a wall of numbers (and most of the page's rendering time)."""
    shown = {1, count, *range(page - around, page + around + 1)}
    numbers = sorted(n for n in shown if 1 <= n <= count)
    out: list[int | None] = numbers[:1]
    for previous, n in pairwise(numbers):
        out += [None, n] if n - previous > 1 else [n]
    return out


def _zone(name: str) -> tzinfo:
    if not name:
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest("tz", name, "an IANA time zone such as Europe/Paris") from None


def _day(text: str, name: str, zone: tzinfo) -> datetime | None:
    """The start of a day given as YYYY-MM-DD, in `zone`."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(name, text, "a date as YYYY-MM-DD") from None
    return datetime.combine(day, time.min, tzinfo=zone)


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
        strength = _number(fields, "strength", float)
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
        scale = _number(fields, "scale", int)
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
        style_id = None if data else _number(fields, "style_image_id", int)
        if not data and style_id is None:
            raise InvalidRequest("style_image", None, "upload a style image or give a gallery id")
        return job_body(
            StyleJobCreate,
            kind="style",
            content_image_id=image_id,
            style_image=base64.b64encode(data).decode("ascii") if data else None,
            style_image_id=style_id,
            size=_number(fields, "size", int),
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
