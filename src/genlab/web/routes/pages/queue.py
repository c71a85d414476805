"""The Queue page and one job: its page, its card and a sweep's grid (the last two are
what the page's script fetches when the job's event stream ends), and cancelling."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from genlab.core.errors import GenlabError
from genlab.web import jobs, queue
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.routes.pages.shared import JobId, error_page, is_htmx, render
from genlab.web.schemas import JobPublic
from genlab.web.studio import Studio

router = APIRouter(include_in_schema=False)
QUEUE_SIZE = 100


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
        queue.cancel(session, studio.hub, job_id, user_id=user.id)
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
