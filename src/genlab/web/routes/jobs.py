"""/api/jobs: create, list (positions and ETA), read, cancel, follow by SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from genlab.core.errors import InvalidRequest
from genlab.web import jobs
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.gallery import MAX_ID
from genlab.web.models import FINISHED_STATES, Job
from genlab.web.progress import TERMINAL_EVENTS, Subscription
from genlab.web.schemas import (
    AnyJobCreate,
    Img2ImgJobCreate,
    JobCreate,
    JobPublic,
    JobsPublic,
    RecolorJobCreate,
    StyleJobCreate,
    SweepJobCreate,
    UpscaleJobCreate,
)
from genlab.web.studio import Studio
from genlab.web.uploads import decode_base64

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing the stream
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("", status_code=201)
def create_job(
    body: JobCreate, studio: StudioDep, session: SessionDep, user: CurrentUser
) -> JobPublic:
    """Queue a job; it runs after the jobs queued before it. Kinds: generate, img2img
    (an init image as base64 or a gallery image id), recolor, upscale, style (content
    and style images as base64 or gallery ids), sweep (up to three axes; its cells
    arrive as `cell` events and its contact sheets are images with role "sheet")."""
    job = submit(studio, session, user.id, body)
    return JobPublic.of(jobs.view(session, studio.hub, job.id))


def submit(studio: Studio, session: Session, user_id: int, body: AnyJobCreate) -> Job:
    """Queue what a JobCreate asks for (the pages call this too) and wake the worker."""
    if isinstance(body, RecolorJobCreate):
        job = jobs.create_recolor(session, owner_id=user_id, **body.model_dump(exclude={"kind"}))
    elif isinstance(body, UpscaleJobCreate):
        job = jobs.create_upscale(session, owner_id=user_id, **body.model_dump(exclude={"kind"}))
    elif isinstance(body, SweepJobCreate):
        job = jobs.create_sweep(session, owner_id=user_id, fields=body.settings(), axes=body.axes())
    elif isinstance(body, StyleJobCreate):
        job = jobs.create_style(
            session,
            studio.store,
            studio.settings,
            owner_id=user_id,
            content=image_input(studio, body.content_image, body.content_image_id, "content_image"),
            style=image_input(studio, body.style_image, body.style_image_id, "style_image"),
            options=body.options(),
        )
    else:
        fields = body.request_fields()
        init_image = mask = None
        if isinstance(body, Img2ImgJobCreate):
            init_image = image_input(studio, body.init_image, body.init_image_id, "init_image")
            mask = image_input(studio, body.mask, body.mask_id, "mask", optional=True)
        job = jobs.create_generation(
            session,
            studio.store,
            studio.settings,
            owner_id=user_id,
            fields=fields,
            n_iter=body.n_iter,
            init_image=init_image,
            mask=mask,
        )
    studio.hub.wake()
    return job


def image_input(
    studio: Studio, data: str | None, image_id: int | None, name: str, *, optional: bool = False
) -> jobs.ImageInput | None:
    if data is None and image_id is None:
        if optional:
            return None
        raise InvalidRequest(name, None, f"give {name} (base64) or {name}_id (gallery)")
    raw = (
        None
        if data is None
        else decode_base64(data, max_bytes=studio.settings.max_upload_bytes, what=name)
    )
    return jobs.ImageInput(data=raw, image_id=image_id)


@router.get("")
def list_jobs(
    studio: StudioDep,
    session: SessionDep,
    state: Annotated[list[str], Query(description="Only these states (repeatable).")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobsPublic:
    """Running and queued jobs in the order they run, then recently finished ones."""
    views = jobs.list_jobs(session, studio.hub, states=state, limit=limit)
    return JobsPublic(items=[JobPublic.of(v) for v in views], count=len(views))


@router.get("/{job_id}")
def get_job(job_id: JobId, studio: StudioDep, session: SessionDep) -> JobPublic:
    return JobPublic.of(jobs.view(session, studio.hub, job_id))


@router.post("/{job_id}/cancel")
def cancel_job(
    job_id: JobId, studio: StudioDep, session: SessionDep, user: CurrentUser
) -> JobPublic:
    """A queued job is cancelled at once; a running one stops at its next step."""
    jobs.cancel(session, studio.hub, job_id, user_id=user.id)
    return JobPublic.of(jobs.view(session, studio.hub, job_id))


@router.get("/{job_id}/events", response_class=StreamingResponse)
async def job_events(job_id: JobId, request: Request, studio: StudioDep) -> StreamingResponse:
    """Server-Sent Events: `state` first, then `started`, `progress`, `preview` (a data
    URI), and one of `done` (with image_ids), `failed` or `cancelled` to end."""
    # Subscribe before reading the state, so nothing between the two is lost.
    subscription = studio.hub.subscribe(job_id)
    try:
        first = await run_in_threadpool(_public, studio, job_id)
    except BaseException:
        studio.hub.unsubscribe(subscription)
        raise
    return StreamingResponse(
        _stream(subscription, first, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _public(studio: Studio, job_id: int) -> JobPublic:
    with studio.sessions() as session:
        return JobPublic.of(jobs.view(session, studio.hub, job_id))


async def _stream(
    subscription: Subscription, first: JobPublic, request: Request
) -> AsyncIterator[str]:
    with subscription:
        yield sse("state", first.model_dump(mode="json"))
        if first.state in FINISHED_STATES:
            yield sse(
                first.state,
                {"job_id": first.id, "image_ids": first.image_ids, "error": first.error},
            )
            return
        while True:
            event = await subscription.get(timeout=KEEPALIVE_S)
            if event is None:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            yield sse(event["event"], event)
            if event["event"] in TERMINAL_EVENTS:
                return


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
