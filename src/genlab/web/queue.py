"""The job queue: its states, the order jobs run in and their ETAs, cancelling, and
the worker's side (claims, progress, how a run ended, recovery after a crash).

Clients create and read jobs through `jobs`; the worker claims the next one, reports
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

import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from genlab.core.errors import GenlabError
from genlab.core.text import printable, repair_json
from genlab.web.gallery import MAX_ID, Forbidden, NotFound
from genlab.web.models import FINISHED_STATES, Job, utcnow
from genlab.web.progress import ProgressHub

ETA_HISTORY = 20
# A job's error is shown in every listing: one printable line, cut to this length.
MAX_ERROR_CHARS = 500


class JobConflict(GenlabError):
    """An action the job's current state does not allow (cancelling a finished job)."""


# -- queueing and reading ---------------------------------------------------------------


def enqueue(
    session: Session, owner_id: int, kind: str, model: str | None, payload: dict[str, Any]
) -> Job:
    """Put a new job at the end of the queue, with its stored request."""
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


# -- order and ETA ----------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A running or queued job's place in the queue."""

    id: int
    state: str
    owner_id: int
    position: int  # 0 while running, 1, 2, … in the queue
    eta_seconds: float | None
    progress: float
    step: int | None
    total: int | None


def schedule(session: Session, hub: ProgressHub, *, until: Job | None = None) -> list[Slot]:
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
    slots: list[Slot] = []
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
            Slot(row.id, row.state, row.owner_id, this_position, clock, progress, step, total)
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
