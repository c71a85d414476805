"""/api/jobs: create, list (positions and ETA), read, cancel, follow by SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from genlab.web import jobs, queue
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.gallery import MAX_ID
from genlab.web.kinds import KINDS, AnyJobCreate, JobCreate
from genlab.web.models import FINISHED_STATES, Job
from genlab.web.progress import TERMINAL_EVENTS, Subscription
from genlab.web.schemas import JobPublic, JobsPublic
from genlab.web.studio import Studio

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
    job = KINDS[body.kind].request(session, studio.store, studio.settings, user_id, body)
    studio.hub.wake()
    return job


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
    queue.cancel(session, studio.hub, job_id, user_id=user.id)
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
            # A cancelled job's partial images are for A1111 callers, not for pages.
            yield sse(event["event"], {k: v for k, v in event.items() if k != "partial"})
            if event["event"] in TERMINAL_EVENTS:
                return


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
