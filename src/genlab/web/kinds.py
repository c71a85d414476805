"""The studio's job kinds, one table: kind -> (schema, request, service, title).

- schema: the JobCreate variant a client posts (web/schemas.py), `kind` its tag;
- request: checks the body and queues the job with its stored request (web/jobs.py);
- service: the runner the worker calls, a service call (web/runners.py);
- title: the job's one-line title on the pages, from its stored request.

A new tool is one row here plus its service (and its schema and runner): POST
/api/jobs accepts it, the worker runs it and the pages name it, with no other edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from genlab.core.errors import InvalidRequest
from genlab.web import jobs, styles
from genlab.web.models import Job
from genlab.web.runners import run_generation, run_recolor, run_style, run_sweep_job, run_upscale
from genlab.web.schemas import (
    GenerateJobCreate,
    Img2ImgJobCreate,
    RecolorJobCreate,
    StyleJobCreate,
    SweepJobCreate,
    UpscaleJobCreate,
)
from genlab.web.settings import Settings
from genlab.web.store import ImageStore
from genlab.web.uploads import decode_base64
from genlab.web.worker import Runner

# (session, store, settings, owner id, body) -> the queued job
Queue = Callable[[Session, ImageStore, Settings, int, Any], Job]


@dataclass(frozen=True)
class JobKind:
    schema: type[BaseModel]
    request: Queue
    service: Runner
    title: Callable[[dict[str, Any]], str]


# -- request: a body checked and queued ------------------------------------------------


def queue_generation(
    session: Session, store: ImageStore, settings: Settings, owner_id: int, body: Any
) -> Job:
    init_image = mask = None
    if isinstance(body, Img2ImgJobCreate):
        init_image = image_input(settings, body.init_image, body.init_image_id, "init_image")
        mask = image_input(settings, body.mask, body.mask_id, "mask", optional=True)
    fields = body.request_fields()
    fields["prompt"], fields["negative_prompt"], applied = styles.apply(
        session, body.prompt, body.negative_prompt, body.styles
    )
    return jobs.create_generation(
        session,
        store,
        settings,
        owner_id=owner_id,
        fields=fields,
        n_iter=body.n_iter,
        init_image=init_image,
        mask=mask,
        styles=applied,
    )


def queue_recolor(
    session: Session, store: ImageStore, settings: Settings, owner_id: int, body: Any
) -> Job:
    return jobs.create_recolor(session, owner_id=owner_id, **body.model_dump(exclude={"kind"}))


def queue_upscale(
    session: Session, store: ImageStore, settings: Settings, owner_id: int, body: Any
) -> Job:
    return jobs.create_upscale(session, owner_id=owner_id, **body.model_dump(exclude={"kind"}))


def queue_style(
    session: Session, store: ImageStore, settings: Settings, owner_id: int, body: Any
) -> Job:
    return jobs.create_style(
        session,
        store,
        settings,
        owner_id=owner_id,
        content=image_input(settings, body.content_image, body.content_image_id, "content_image"),
        style=image_input(settings, body.style_image, body.style_image_id, "style_image"),
        options=body.options(),
    )


def queue_sweep(
    session: Session, store: ImageStore, settings: Settings, owner_id: int, body: Any
) -> Job:
    return jobs.create_sweep(session, owner_id=owner_id, fields=body.settings(), axes=body.axes())


def image_input(
    settings: Settings, data: str | None, image_id: int | None, name: str, *, optional=False
) -> jobs.ImageInput | None:
    """An input image as a body gives it: base64 data or a gallery image id."""
    if data is None and image_id is None:
        if optional:
            return None
        raise InvalidRequest(name, None, f"give {name} (base64) or {name}_id (gallery)")
    raw = (
        None
        if data is None
        else decode_base64(data, max_bytes=settings.max_upload_bytes, what=name)
    )
    return jobs.ImageInput(data=raw, image_id=image_id)


# -- title: a job named from its stored request ---------------------------------------


def generation_title(payload: dict[str, Any]) -> str:
    return payload.get("request", {}).get("prompt") or "(empty prompt)"


def recolor_title(payload: dict[str, Any]) -> str:
    target = payload.get("palette") or f"the colours of image {payload.get('like_image_id')}"
    return f"Recolour image {payload.get('image_id')} to {target}"


def upscale_title(payload: dict[str, Any]) -> str:
    return f"Upscale image {payload.get('image_id')} ×{payload.get('scale')}"


def style_title(payload: dict[str, Any]) -> str:
    given = payload.get("content_image") or {}
    source = f"image {given['image_id']}" if given.get("image_id") else "an uploaded image"
    return f"Style transfer onto {source}"


def sweep_title(payload: dict[str, Any]) -> str:
    prompt = payload.get("definition", {}).get("fields", {}).get("prompt")
    return f"Sweep: {prompt or '(empty prompt)'}"


# -- the table -------------------------------------------------------------------------

KINDS: dict[str, JobKind] = {
    # kind: JobKind(schema, request, service, title)
    "generate": JobKind(GenerateJobCreate, queue_generation, run_generation, generation_title),
    "img2img": JobKind(Img2ImgJobCreate, queue_generation, run_generation, generation_title),
    "recolor": JobKind(RecolorJobCreate, queue_recolor, run_recolor, recolor_title),
    "upscale": JobKind(UpscaleJobCreate, queue_upscale, run_upscale, upscale_title),
    "style": JobKind(StyleJobCreate, queue_style, run_style, style_title),
    "sweep": JobKind(SweepJobCreate, queue_sweep, run_sweep_job, sweep_title),
}

# What POST /api/jobs accepts: one of the table's schemas, told apart by `kind`.
AnyJobCreate = Union[tuple(kind.schema for kind in KINDS.values())]  # noqa: UP007
JobCreate = Annotated[AnyJobCreate, Field(discriminator="kind")]


def runners_by_kind() -> dict[str, Runner]:
    """The worker's runner for every kind."""
    return {name: kind.service for name, kind in KINDS.items()}


def title(kind: str, payload: dict[str, Any]) -> str:
    """A job's title on the pages; an unknown kind (from a newer server) is its name."""
    return KINDS[kind].title(payload) if kind in KINDS else kind
