"""Jobs as clients see them: creating each kind, and the views of queued, running and
finished jobs the API and the pages show.

Creating checks a request as the worker would (sizes, models, inputs, seeds fixed
now so a retried job makes the same images) and queues it with `queue.enqueue`. A
job's view adds what the queue knows now: its position, ETA and live progress
(`queue.schedule`). The queue itself (states, claims, recovery, ETA) is `queue`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from genlab.core.errors import InvalidRequest
from genlab.core.request import (
    MAX_SIDE,
    SEED_LIMIT,
    GenerationRequest,
    check_name,
    check_text,
)
from genlab.core.text import repair_json
from genlab.core.tools import RecolorRequest, StyleRequest, UpscaleRequest
from genlab.services import catalog
from genlab.web import queue
from genlab.web.gallery import get_image, image_file
from genlab.web.models import FINISHED_STATES, JOB_STATES, Job
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
        columns, rows, _ = queue.payload(job)["shape"]
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
    image_format: str | None = None,
    styles: list[str] | None = None,
) -> Job:
    """Queue a txt2img job, or img2img (inpainting with a mask) when an init image is
    given. The seed is fixed now, so a retried job makes the same images.
    `image_format` (png, jpg, webp; None: the samples_format option) is the stored
    images' format; `styles` names the prompt styles already applied, for the record."""
    from genlab.services.generation import new_request
    from genlab.web.a1111_options import SAMPLES_FORMATS, check_option
    from genlab.web.options import FORMAT_OPTION, check_model, default_model, get_options

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
    payload: dict[str, Any] = {"request": request.to_dict(), "n_iter": n_iter}
    if image_format is None:
        stored = get_options(session)[FORMAT_OPTION]
        # Older servers stored any samples_format without applying it; such a value
        # must not fail every job now, so it means the format they used: PNG.
        image_format = stored if stored in SAMPLES_FORMATS else "png"
    check_option(FORMAT_OPTION, image_format)
    if image_format != "png":
        payload["format"] = image_format
    if styles:
        payload["styles"] = list(styles)
    return queue.enqueue(session, owner_id, kind, request.model, payload)


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
    return queue.enqueue(session, owner_id, "recolor", None, payload)


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
    return queue.enqueue(session, owner_id, "upscale", f"upscale:{model}", payload)


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
    return queue.enqueue(session, owner_id, "style", STYLE_MODEL, data)


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
    return queue.enqueue(session, owner_id, "sweep", fields["model"], data)


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


# -- reading -----------------------------------------------------------------------------


def view(session: Session, hub: ProgressHub, job_id: int) -> JobView:
    job = queue.get_job(session, job_id)
    if job.state in FINISHED_STATES:
        return _finished_view(job)
    # Only the jobs ahead of this one decide its position and ETA.
    slots = queue.schedule(session, hub, until=job)
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
        for slot in queue.schedule(session, hub)
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


def _queue_view(job: Job, slot: queue.Slot) -> JobView:
    return JobView(job, slot.position, slot.eta_seconds, slot.progress, slot.step, slot.total)
