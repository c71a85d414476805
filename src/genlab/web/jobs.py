"""The job queue as a service.

Clients create, list, read and cancel jobs; the worker claims the next one, reports
how it ended, and on start-up recovers jobs a crash left `running`. Every state
change is one conditional UPDATE, so a cancel and a claim racing for the same job
cannot both win.

States: queued → running → done | failed | cancelled (queued → cancelled directly).
`attempts` counts runs started. A job found `running` at start-up was cut short by
a crash: it is queued again while attempts < max_attempts (so it gets one retry),
otherwise marked failed with the reason. Finished jobs are never touched.

ETA: a job's work is its image count, times its steps for engines that run steps
(sweeps and style transfers work theirs out when queued and keep it in the payload).
Each model's seconds per unit of work is the median over its last 20 finished jobs
(the median, so the first job that also paid for loading the model does not skew
it). A running job's remaining time comes from its own pace once it has made a step.
A model with no history has no estimate, and neither do the jobs queued after it.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import (
    MAX_SIDE,
    SEED_LIMIT,
    GenerationRequest,
    check_name,
    check_text,
)
from genlab.core.text import printable, repair_json
from genlab.core.tools import RecolorRequest, StyleRequest, UpscaleRequest
from genlab.services import catalog
from genlab.web.gallery import MAX_ID, Forbidden, NotFound, get_image, image_file
from genlab.web.models import FINISHED_STATES, JOB_STATES, Job, utcnow
from genlab.web.progress import ProgressHub
from genlab.web.settings import Settings
from genlab.web.store import INPUTS, ImageStore, StoredFile, UndecodableFile
from genlab.web.uploads import check_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

MAX_N_ITER = 16
ETA_HISTORY = 20
# A sweep job makes at most this many images: `genlab sweep`'s budget without --yes.
MAX_SWEEP_CELLS = 256
SWEEP_FIELDS = (
    *("prompt", "negative_prompt", "width", "height", "steps", "guidance_scale"),
    *("sampler", "schedule", "seed", "model"),
)
STYLE_MODEL = "style:vgg19"  # the queue's name for style jobs (their ETA history)
MAX_STYLE_SIDE = 2048
MAX_STYLE_EVALUATIONS = 5000  # all scales together; the CLI's default is 450
# A job's error is shown in every listing: one printable line, cut to this length.
MAX_ERROR_CHARS = 500
REQUEST_FIELDS = frozenset(f.name for f in fields(GenerationRequest))
# Set by the server from uploads, never by a client directly.
_INPUT_FIELDS = ("init_image", "mask", "loras")
_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}


class JobConflict(GenlabError):
    """An action the job's current state does not allow (cancelling a finished job)."""


@dataclass(frozen=True)
class ImageInput:
    """An init image or mask: uploaded bytes, or an image already in the gallery."""

    data: bytes | None = None
    image_id: int | None = None


@dataclass(frozen=True)
class JobView:
    """A job with what the queue knows about it now."""

    job: Job
    position: int | None  # 0 while running, 1, 2, … in the queue, None when finished
    eta_seconds: float | None  # until it finishes; None when finished or unknown
    progress: float
    step: int | None = None
    total: int | None = None

    @property
    def image_ids(self) -> list[int]:
        return [image.id for image in self.job.images]

    @property
    def sheet_ids(self) -> list[int]:
        return [image.id for image in self.job.images if image.role == "sheet"]

    @property
    def cells(self) -> list[CellView] | None:
        """A sweep's cells made so far (all of them once done); None for other kinds."""
        job = self.job
        if job.kind != "sweep":
            return None
        columns, rows, _ = payload(job)["shape"]
        if job.state == "done":
            made = [(i.sweep_cell, i.path, i.id) for i in job.images if i.role == "image"]
        else:
            stored = repair_json(json.loads(job.cells or "[]"))
            made = [(index, path, None) for index, path in stored]
        return [
            # Cells run in sheet order: columns fastest, then rows, then sheets.
            CellView(
                index,
                (index % columns, index // columns % rows, index // (columns * rows)),
                path,
                image_id,
            )
            for index, path, image_id in made
            if index is not None
        ]


@dataclass(frozen=True)
class CellView:
    """One cell of a sweep: where it sits in the grid and its stored file."""

    index: int
    position: tuple[int, int, int]  # (x, y, z): column, row, sheet
    path: str  # in the store
    image_id: int | None  # None until the job is done and its rows exist


# -- creating ----------------------------------------------------------------------------


def create_generation(
    session: Session,
    store: ImageStore,
    settings: Settings,
    *,
    owner_id: int,
    fields: dict[str, Any],
    n_iter: int = 1,
    init_image: ImageInput | None = None,
    mask: ImageInput | None = None,
) -> Job:
    """Queue a txt2img job, or img2img (inpainting with a mask) when an init image is
    given. The seed is fixed now, so a retried job makes the same images."""
    from genlab.services.generation import new_request
    from genlab.web.options import check_model, default_model

    unknown = sorted(set(fields) - REQUEST_FIELDS) + [k for k in _INPUT_FIELDS if k in fields]
    if unknown:
        raise InvalidRequest("request", ", ".join(unknown), "not fields a client may set")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or not 1 <= n_iter <= MAX_N_ITER:
        raise InvalidRequest("n_iter", n_iter, f"must be an integer from 1 to {MAX_N_ITER}")
    if mask is not None and init_image is None:
        raise InvalidRequest("mask", "given", "inpainting needs an init image too")
    fields = {k: v for k, v in fields.items() if v is not None}
    fields["model"] = check_model(str(fields.get("model") or default_model(session)))
    init_size = None
    if init_image is not None:
        stored = _store_input(session, store, settings, init_image, "init_image")
        fields["init_image"], init_size = stored.path, (stored.width, stored.height)
    if mask is not None:
        fields["mask"] = _store_input(session, store, settings, mask, "mask").path
    request = new_request(**fields).with_seed()
    check_drawn_size(request, init_size)
    kind = "img2img" if init_image is not None else "generate"
    return _enqueue(
        session, owner_id, kind, request.model, {"request": request.to_dict(), "n_iter": n_iter}
    )


def check_drawn_size(request: GenerationRequest, init_size: tuple[int, int] | None) -> None:
    """Refuse now what the worker would refuse: a side left out is filled in when the
    job runs (from the init image, or the model's native size), and only then does the
    request's pixel limit see both sides."""
    from genlab.services.catalog import engine_name_for

    if request.width is not None and request.height is not None:
        return  # the request checked both itself
    if request.width is None and request.height is None:
        return  # the model's own size (or the init image's): what it is made for
    procedural = engine_name_for(request.model) == "procedural"
    if init_size is not None and not procedural:
        # As the engines do (and A1111): the init image's side, down to a multiple of 8.
        width, height = (side // 8 * 8 for side in init_size)
        source = "from the init image"
    else:
        native = catalog.native_side(request.model)
        # A native size unknown without loading the model (a hub pipeline, a single
        # file) is taken as the given side: most checkpoints are made for squares.
        width = height = native or request.width or request.height
        source = "the model's native size" if native else "as a square"
    missing, filled = ("height", height) if request.height is None else ("width", width)
    try:
        request.replace(width=request.width or width, height=request.height or height)
    except InvalidRequest as err:
        raise InvalidRequest(
            err.field, err.value, f"{err.allowed}; the {missing} left out is {filled} px, {source}"
        ) from None


def recolor_request(data: dict[str, Any]) -> RecolorRequest:
    """A recolour job's request, from its stored payload (or a client's fields)."""
    like = data.get("like_image_id")
    return RecolorRequest(
        palette=data.get("palette"),
        like=f"image {like}" if like is not None else None,
        method=data.get("method", "reinhard") if like is not None else "reinhard",
        strength=data.get("strength", 1.0),
        seed=data.get("seed", 0),
    )


def create_recolor(
    session: Session,
    *,
    owner_id: int,
    image_id: int,
    palette: str | None = None,
    like_image_id: int | None = None,
    method: str = "reinhard",
    strength: float = 1.0,
    seed: int = 0,
) -> Job:
    """Queue a recolour of a gallery image, like another one or onto a palette: a
    preset or hex colours, never a palette file (that would be a path on the server)."""
    from genlab.services import tools

    get_image(session, image_id)
    fields = {"palette": palette, "like_image_id": like_image_id, "method": method}
    request = recolor_request({**fields, "strength": strength, "seed": seed})
    if palette is not None:
        tools.target_palette(check_name(palette, "palette"), files=False)  # fail now
    if like_image_id is not None:
        get_image(session, like_image_id)
    payload = {
        "image_id": image_id,
        "palette": palette,
        "like_image_id": like_image_id,
        "method": request.method if like_image_id is not None else "palette",
        "strength": float(request.strength),
        "seed": int(request.seed),
    }
    return _enqueue(session, owner_id, "recolor", None, payload)


def create_upscale(
    session: Session,
    *,
    owner_id: int,
    image_id: int,
    scale: int = 2,
    model: str = "espcn",
    tile: int = 256,
) -> Job:
    """Queue an upscale of a gallery image with a resampler or the shipped ESPCN
    (model files are not accepted over the web: they are paths on the server)."""
    from genlab.services import tools

    source = get_image(session, image_id)
    models = tools.upscale_models()
    if check_name(model, "model") not in models:
        raise InvalidRequest("model", model, f"one of {', '.join(models)}")
    if scale is None:
        raise InvalidRequest("scale", scale, "must be 2 or 4")
    request = UpscaleRequest(model=model, scale=scale, tile=tile)
    side = max(source.width, source.height) * scale
    if side > MAX_SIDE:
        raise InvalidRequest("scale", scale, f"the result would be {side} px; at most {MAX_SIDE}")
    payload = {"image_id": image_id, "scale": scale, "model": model, "tile": request.tile}
    return _enqueue(session, owner_id, "upscale", f"upscale:{model}", payload)


def create_style(
    session: Session,
    store: ImageStore,
    settings: Settings,
    *,
    owner_id: int,
    content: ImageInput,
    style: ImageInput,
    options: dict[str, Any],
) -> Job:
    """Queue a neural style transfer (as `genlab style`): content and style images are
    gallery images or uploads; `options` are StyleConfig's fields (core.tools.STYLE_OPTIONS)."""
    import secrets

    from genlab.services import tools

    request = StyleRequest(options)
    if request.seed == -1:  # fixed now, so a retried job makes the same image
        request = request.with_seed(secrets.randbelow(SEED_LIMIT))
    config = tools.style_config(request)
    if config.size > MAX_STYLE_SIDE:
        raise InvalidRequest("size", config.size, f"at most {MAX_STYLE_SIDE} px on this server")
    # Counted before the per-scale list is built: `scales` may be any integer.
    evaluations = config.coarse_iterations * (config.scales - 1) + config.iterations
    if evaluations > MAX_STYLE_EVALUATIONS:
        raise InvalidRequest(
            "iterations",
            evaluations,
            f"at most {MAX_STYLE_EVALUATIONS} evaluations over all scales on this server",
        )
    inputs = {
        name: _tool_input(session, store, settings, source, name)
        for name, source in (("content_image", content), ("style_image", style))
    }
    # Image.open reads only the header: enough for the sizes, and refused early.
    content_file = _open_header(session, store, inputs["content_image"], "content_image")
    with content_file, _open_header(session, store, inputs["style_image"], "style_image") as style:
        work = tools.style_work(request, content_file, style)
    # Work: evaluations weighted by the pixels each scale has (per 256x256 image).
    units = sum(n * w * h for n, (w, h) in work) / 256**2
    data = {**inputs, "config": request.options, "work_units": units}
    return _enqueue(session, owner_id, "style", STYLE_MODEL, data)


def create_sweep(
    session: Session,
    *,
    owner_id: int,
    fields: dict[str, Any],
    axes: dict[str, str | dict[str, Any] | None],
) -> Job:
    """Queue a sweep (as `genlab sweep`): `fields` are its settings (SWEEP_FIELDS),
    `axes` maps x, y, z to flag text ("seed=1-4") or a table ({"axis": "seed",
    "values": [1, 2]}). Random seeds are fixed now, so a retried job resumes the same
    cells; models on any axis must be ones this server offers."""
    from genlab.services.catalog import engine_name_for
    from genlab.services.sweeps import (
        AXIS_NAMES,
        Axis,
        AxisError,
        SweepDefinition,
        SweepError,
        plan,
    )
    from genlab.web.options import check_model, default_model

    unknown = sorted(set(fields) - set(SWEEP_FIELDS))
    if unknown:
        raise InvalidRequest("sweep", ", ".join(unknown), f"settings are {', '.join(SWEEP_FIELDS)}")
    fields = {k: v for k, v in fields.items() if v is not None}
    fields["model"] = check_model(str(fields.get("model") or default_model(session)))
    parsed = {}
    for name, given in axes.items():
        if given is None:
            continue
        if name not in AXIS_NAMES:
            raise InvalidRequest("axis", name, "x, y or z")
        _check_texts(given, name)
        try:
            # Values are counted before any is made: "seed=0-4095,0-4095,…" is refused
            # from its text, not after building a million of them.
            axis = (
                Axis.parse(given, max_values=MAX_SWEEP_CELLS)
                if isinstance(given, str)
                else Axis.from_table(given, max_values=MAX_SWEEP_CELLS)
            )
        except AxisError as err:
            raise SweepError(f"axis {name.upper()}: {err}") from None
        if axis.kind == "model":
            models = tuple(check_model(str(value)) for value in axis.values)
            axis = dataclasses.replace(axis, values=models)
        parsed[name] = axis
    definition = SweepDefinition(fields, parsed).resolved()
    planned = plan(definition, max_cells=MAX_SWEEP_CELLS)
    units = sum(
        1 if engine_name_for(c.request.model) == "procedural" else c.request.steps
        for c in planned.cells
    )
    data = {
        "definition": definition.to_dict(),
        "cells": len(planned),
        "shape": list(planned.shape),  # (columns, rows, sheets)
        "axes": [
            {"name": axis.name, "title": axis.title, "labels": list(axis.labels)}
            for axis in planned.axes
        ],
        "work_units": units,
    }
    return _enqueue(session, owner_id, "sweep", fields["model"], data)


def _check_texts(value: Any, field: str) -> None:
    """Every string in an axis (its flag text, or a table's keys and values) is text
    genlab may store: it ends up in prompts, labels and the job's stored request."""
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_name(key, field)
            _check_texts(item, f"{field}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_texts(item, field)


def _tool_input(
    session: Session, store: ImageStore, settings: Settings, source: ImageInput, name: str
) -> dict[str, Any]:
    """A tool's input: a gallery image by id (its prompt and seed describe the output),
    or an upload kept under inputs/."""
    if source.image_id is not None and source.data is None:
        get_image(session, source.image_id)
        return {"image_id": source.image_id}
    return {"path": _store_input(session, store, settings, source, name).path}


def _open_header(
    session: Session, store: ImageStore, given: dict[str, Any], name: str
) -> PILImage.Image:
    """A tool's input opened lazily (its header, for the size); a stored file that is
    no image any more (damaged on disk) is refused now rather than in the worker."""
    from PIL import Image as PILImage

    path = _tool_input_path(session, store, given)
    try:
        return PILImage.open(path)
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError):
        what = f"image {given['image_id']}" if given.get("image_id") is not None else "upload"
        raise UndecodableFile(f"{name}: {what}'s stored file cannot be decoded") from None


def _tool_input_path(session: Session, store: ImageStore, given: dict[str, Any]) -> Any:
    if given.get("image_id") is not None:
        return image_file(store, get_image(session, given["image_id"]))
    return store.resolve(given["path"])


def _store_input(
    session: Session, store: ImageStore, settings: Settings, source: ImageInput, name: str
) -> StoredFile:
    """Check an input image and keep its bytes under inputs/ (content-addressed)."""
    if (source.data is None) == (source.image_id is None):
        raise InvalidRequest(name, "both or neither", "give image bytes or a gallery image id")
    if source.image_id is not None:
        data = image_file(store, get_image(session, source.image_id)).read_bytes()
    else:
        assert source.data is not None
        data = source.data
    checked = check_image(
        data,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_upload_pixels,
        what=name,
    )
    width, height = checked.image.size
    return store.put_bytes(data, width, height, suffix=_SUFFIX[checked.format], area=INPUTS)


def _enqueue(
    session: Session, owner_id: int, kind: str, model: str | None, payload: dict[str, Any]
) -> Job:
    position = (session.scalar(select(func.max(Job.position))) or 0) + 1
    job = Job(
        kind=kind,
        model=model,
        request=json.dumps(payload),
        state="queued",
        attempts=0,
        progress=0.0,
        position=position,
        owner_id=owner_id,
    )
    session.add(job)
    session.commit()
    return job


# -- reading -----------------------------------------------------------------------------


def get_job(session: Session, job_id: int) -> Job:
    if not 1 <= job_id <= MAX_ID:  # no such row can exist, and SQLite cannot take it
        raise NotFound(f"job {job_id} does not exist")
    job = session.get(Job, job_id, options=[selectinload(Job.images)])
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


def payload(job: Job) -> dict[str, Any]:
    """A job's request as stored; text an older version stored with lone surrogates
    (which no response can encode) comes back repaired."""
    return repair_json(json.loads(job.request))


def view(session: Session, hub: ProgressHub, job_id: int) -> JobView:
    job = get_job(session, job_id)
    if job.state in FINISHED_STATES:
        return _finished_view(job)
    # Only the jobs ahead of this one decide its position and ETA.
    slots = _schedule(session, hub, until=job)
    if not slots or slots[-1].id != job.id:  # it finished in between
        return _finished_view(job)
    return _queue_view(job, slots[-1])


def list_jobs(
    session: Session,
    hub: ProgressHub,
    *,
    states: Iterable[str] = (),
    owner_id: int | None = None,
    limit: int = 50,
) -> list[JobView]:
    """Running and queued jobs in queue order, then the most recently finished."""
    states = list(states) or list(JOB_STATES)
    for state in states:
        if state not in JOB_STATES:
            raise InvalidRequest("state", state, f"one of {', '.join(JOB_STATES)}")
    if not 1 <= limit <= 500:
        raise InvalidRequest("limit", limit, "must be from 1 to 500")
    slots = [
        slot
        for slot in _schedule(session, hub)
        if slot.state in states and owner_id in (None, slot.owner_id)
    ][:limit]
    # Whole rows (and their images) only for the jobs listed, not the whole queue.
    loaded = {
        job.id: job
        for job in session.scalars(
            select(Job).where(Job.id.in_([s.id for s in slots])).options(selectinload(Job.images))
        )
    }
    views = [_queue_view(loaded[s.id], s) for s in slots if s.id in loaded]
    finished = [s for s in states if s in FINISHED_STATES]
    if finished and len(views) < limit:
        statement = (
            select(Job)
            .where(Job.state.in_(finished))
            .options(selectinload(Job.images))
            .order_by(Job.finished_at.desc(), Job.id.desc())
            .limit(limit - len(views))
        )
        if owner_id is not None:
            statement = statement.where(Job.owner_id == owner_id)
        views += [_finished_view(job) for job in session.scalars(statement)]
    return views


def _finished_view(job: Job) -> JobView:
    return JobView(job, None, None, job.progress)


@dataclass(frozen=True)
class _Slot:
    """A running or queued job's place in the queue."""

    id: int
    state: str
    owner_id: int
    position: int  # 0 while running, 1, 2, … in the queue
    eta_seconds: float | None
    progress: float
    step: int | None
    total: int | None


def _queue_view(job: Job, slot: _Slot) -> JobView:
    return JobView(job, slot.position, slot.eta_seconds, slot.progress, slot.step, slot.total)


def _schedule(session: Session, hub: ProgressHub, *, until: Job | None = None) -> list[_Slot]:
    """Running and queued jobs, in the order they run, with positions and ETAs; with
    `until`, only the jobs up to that one. Reads columns, not whole rows: the queue can
    be long, and a job's view is asked for on every submission and poll."""
    statement = (
        select(Job.id, Job.kind, Job.model, Job.request, Job.state, Job.progress, Job.owner_id)
        .where(Job.state.in_(("running", "queued")))
        .order_by((Job.state == "queued"), Job.position, Job.id)
    )
    if until is not None:
        statement = statement.where(
            or_(
                Job.state == "running",
                Job.position < until.position,
                and_(Job.position == until.position, Job.id <= until.id),
            )
        )
    live = hub.live()
    rates: dict[str | None, float | None] = {}
    slots: list[_Slot] = []
    clock: float | None = 0.0  # seconds from now until the previous job finishes
    position = 0
    for row in session.execute(statement):
        if row.model not in rates:
            rates[row.model] = seconds_per_unit(session, row.model)
        rate = rates[row.model]
        estimate = None if rate is None else rate * _work_units(row.kind, row.model, row.request)
        step = total = None
        progress = row.progress
        if row.state == "running":
            remaining = estimate
            if live is not None and live.job_id == row.id:
                step, total, progress = live.step, live.total, live.fraction
                elapsed = time.monotonic() - live.started
                if live.step > 0:
                    remaining = elapsed * (live.total - live.step) / live.step
                elif estimate is not None:
                    remaining = max(estimate - elapsed, 0.0)
            this_position = 0
        else:
            position += 1
            this_position = position
            remaining = estimate
        clock = None if clock is None or remaining is None else clock + remaining
        slots.append(
            _Slot(row.id, row.state, row.owner_id, this_position, clock, progress, step, total)
        )
    return slots


def work_units(job: Job) -> float:
    """How much work a job is, in the unit its model's rate is measured in."""
    return _work_units(job.kind, job.model, job.request)


def _work_units(kind: str, model: str | None, request_json: str) -> float:
    from genlab.services.catalog import engine_name_for

    data = json.loads(request_json)
    if "work_units" in data:
        return max(float(data["work_units"]), 1e-9)
    if kind not in ("generate", "img2img"):
        return 1.0  # one image in, one out
    request = data["request"]
    images = int(request.get("batch_size", 1)) * int(data.get("n_iter", 1))
    if model and engine_name_for(model) == "procedural":
        return float(images)  # no steps: one render per image
    return float(images * int(request.get("steps", 1)))


def seconds_per_unit(session: Session, model: str | None) -> float | None:
    jobs = session.scalars(
        select(Job)
        .where(Job.model.is_(None) if model is None else Job.model == model)
        .where(Job.state == "done", Job.started_at.is_not(None), Job.finished_at.is_not(None))
        .order_by(Job.finished_at.desc())
        .limit(ETA_HISTORY)
    ).all()
    rates = [
        (job.finished_at - job.started_at).total_seconds() / work_units(job)
        for job in jobs
        if job.finished_at and job.started_at
    ]
    return statistics.median(rates) if rates else None


# -- cancelling --------------------------------------------------------------------------


def cancel(session: Session, hub: ProgressHub, job_id: int, *, user_id: int) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next step."""
    job = get_job(session, job_id)
    if job.owner_id != user_id:
        raise Forbidden(f"job {job_id} belongs to another user")
    if job.state == "queued":
        changed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == "queued")
            .values(state="cancelled", finished_at=utcnow())
        ).rowcount
        session.commit()
        session.refresh(job)
        if changed:
            hub.finished(job_id, "cancelled")
            return job
    if job.state == "running":
        hub.request_cancel(job_id)  # the worker raises at the next step and records it
        return job
    raise JobConflict(f"job {job_id} is already {job.state}; only queued or running jobs stop")


def cancel_running(session: Session, hub: ProgressHub) -> int | None:
    """A1111's interrupt: stop whatever job is running, whoever owns it."""
    live = hub.live()
    job_id = live.job_id if live is not None else None
    if job_id is None:
        job_id = session.scalar(select(Job.id).where(Job.state == "running").limit(1))
    if job_id is not None:
        hub.request_cancel(job_id)
    return job_id


# -- the worker's side -------------------------------------------------------------------


def claim_next(session: Session) -> Job | None:
    """Mark the first queued job running and return it (None when the queue is empty)."""
    while True:
        job_id = session.scalar(
            select(Job.id).where(Job.state == "queued").order_by(Job.position, Job.id).limit(1)
        )
        if job_id is None:
            return None
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == "queued")
            .values(
                state="running",
                attempts=Job.attempts + 1,
                started_at=utcnow(),
                progress=0.0,
                error=None,
                cells=None,
            )
        ).rowcount
        session.commit()
        if claimed:
            return get_job(session, job_id)
        # cancelled between the two statements: take the next one


def set_progress(session: Session, job_id: int, fraction: float) -> None:
    session.execute(
        update(Job).where(Job.id == job_id, Job.state == "running").values(progress=fraction)
    )
    session.commit()


def set_cells(session: Session, job_id: int, cells: list[tuple[int, str]]) -> None:
    """Record a running sweep's stored cells, (cell index, store path) each."""
    session.execute(
        update(Job).where(Job.id == job_id, Job.state == "running").values(cells=json.dumps(cells))
    )
    session.commit()


def finish(
    session: Session, job_id: int, state: str, *, error: str | None = None, commit: bool = True
) -> None:
    if state not in FINISHED_STATES:
        raise ValueError(f"{state!r} is not a finished state")
    values: dict[str, Any] = {
        "state": state,
        "finished_at": utcnow(),
        "error": None if error is None else error_line(error),
        "cells": None,
    }
    if state == "done":
        values["progress"] = 1.0
    session.execute(update(Job).where(Job.id == job_id).values(**values))
    if commit:
        session.commit()


def error_line(text: str) -> str:
    """An error as a job keeps and shows it: one short printable line (a message may
    quote a long prompt or carry escape codes, and every job listing repeats it)."""
    return printable(" ".join(text.split()), max_chars=MAX_ERROR_CHARS, newlines=False)


def requeue(session: Session, job_id: int) -> None:
    """Put a job stopped by a clean shutdown back in the queue; that run does not count."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running")
        .values(
            state="queued", attempts=Job.attempts - 1, started_at=None, progress=0.0, cells=None
        )
    )
    session.commit()


def recover(session: Session, max_attempts: int) -> tuple[list[int], list[int]]:
    """After a crash: jobs left `running` go back to the queue, or fail when they have
    had their runs. Returns (requeued ids, failed ids)."""
    requeued, failed = [], []
    for job in session.scalars(select(Job).where(Job.state == "running")).all():
        if job.attempts >= max_attempts:
            job.state = "failed"
            job.finished_at = utcnow()
            job.error = (
                f"the server stopped during this job {job.attempts} times "
                f"(crash or kill); not retried again"
            )
            failed.append(job.id)
        else:
            job.state = "queued"
            job.started_at = None
            job.progress = 0.0
            job.cells = None
            requeued.append(job.id)
    session.commit()
    return requeued, failed


def input_paths(session: Session) -> set[str]:
    """Store paths of the uploads jobs refer to: init images, masks, style inputs."""
    found = set()
    rows = session.execute(select(Job.kind, Job.request).where(Job.kind.in_(("img2img", "style"))))
    for kind, text in rows:
        data = json.loads(text)
        if kind == "img2img":
            request = data.get("request", {})
            found.update(request[k] for k in ("init_image", "mask") if request.get(k))
        else:
            found.update(
                data[k]["path"] for k in ("content_image", "style_image") if "path" in data[k]
            )
    return found
