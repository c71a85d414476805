"""The Sweep page: an X/Y/Z plot, one prompt with up to three settings varied."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from genlab.core.errors import GenlabError
from genlab.core.text import repair
from genlab.web import errors, options
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.routes.jobs import submit
from genlab.web.routes.pages.shared import (
    error_page,
    form_values,
    job_body,
    model_choices,
    parse_number,
    render,
    shown_error,
    text_fields,
)
from genlab.web.schemas import SweepJobCreate
from genlab.web.studio import Studio

if TYPE_CHECKING:
    from genlab.web.models import Job

router = APIRouter(include_in_schema=False)
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
    seed = parse_number(fields, "seed", int)
    return job_body(
        SweepJobCreate,
        kind="sweep",
        prompt=fields.get("prompt", ""),
        negative_prompt=fields.get("negative_prompt") or None,
        model=fields.get("model") or None,
        sampler=fields.get("sampler") or None,
        schedule=fields.get("schedule") or None,
        steps=parse_number(fields, "steps", int),
        guidance_scale=parse_number(fields, "guidance_scale", float),
        width=parse_number(fields, "width", int),
        height=parse_number(fields, "height", int),
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
