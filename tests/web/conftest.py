"""Fixtures for the studio: a TestClient over a fresh data folder, and helpers.

The procedural engine makes images in milliseconds, so whole job lifecycles run in
a test; the built-in diffusion model is used where real denoising steps matter.

No test depends on how fast anything runs. A job that must still be running while a
test queues, watches or cancels others is held (`blocker`): it reports steps and a
preview, and goes on until the test cancels it or the studio stops. Tests that mean
"after the job ran" are marked `stepped`: their worker runs jobs only inside
`wait_for`, with `Worker.run_once`. Other waits for a job's state or an event poll for
it with a long timeout (`HANG_GUARD`) that only turns a hang into a failure; under load
they just take longer.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.web.app import create_app
from genlab.web.settings import Settings

FINISHED = ("done", "failed", "cancelled")
HANG_GUARD = 300.0  # seconds: how long a wait lasts before a hang fails the test
HELD = "held by the test"  # the prompt of a blocker job
HELD_STEPS = 64  # the steps a held job says it has


def _held(run):
    """The generate runner, except that a `blocker` job first runs in place, a step
    every few milliseconds (a preview at the first), until it is cancelled or the
    worker stops: it ends then as a real job would, at its next step."""
    from PIL import Image

    def runner(context):
        from genlab.web import queue

        if queue.payload(context.job).get("request", {}).get("prompt") != HELD:
            return run(context)
        context.worker.hub.started(context.job.id, total=HELD_STEPS)
        context.step(1, HELD_STEPS)
        context.preview(1, Image.new("RGB", (8, 8), (40, 40, 200)))
        guard = time.monotonic() + HANG_GUARD
        for step in itertools.chain(range(2, HELD_STEPS), itertools.repeat(HELD_STEPS - 1)):
            if time.monotonic() > guard:
                break  # a test that forgot it: let it finish
            time.sleep(0.02)
            context.step(step, HELD_STEPS)  # raises once cancelled or stopping
        return run(context)

    return runner


@pytest.fixture(autouse=True)
def holdable_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Studios made in a test run `blocker` jobs held (see `_held`); a test-only
    wrapper around the kind table's generate runner, which the product never sees."""
    from genlab.web import kinds

    table = kinds.runners_by_kind

    def runners():
        found = table()
        return {**found, "generate": _held(found["generate"])}

    monkeypatch.setattr(kinds, "runners_by_kind", runners)


@pytest.fixture(autouse=True)
def testserver_is_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starlette's TestClient sends `Host: testserver`; a server without a token only
    answers to loopback names, so tests count that name as one (as Django's test
    runner adds it to ALLOWED_HOSTS)."""
    from genlab.web import security

    monkeypatch.setattr(security, "LOOPBACK_NAMES", security.LOOPBACK_NAMES | {"testserver"})


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Model hashes are cached under XDG_CACHE_HOME; keep the user's cache untouched.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def client(
    settings: Settings, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The studio over a fresh data folder. Marked `stepped`, a test gets one whose
    worker thread never starts: `wait_for` runs the queue itself with
    `Worker.run_once`, one job after another, so "after the job ran" is exact."""
    stepped = request.node.get_closest_marker("stepped") is not None
    if stepped:
        from genlab.web.worker import Worker

        monkeypatch.setattr(Worker, "start", lambda self: None)
    with TestClient(create_app(settings)) as test_client:
        test_client.stepped = stepped  # type: ignore[attr-defined]
        yield test_client


def wait_for(client: TestClient, job_id: int, states=FINISHED, timeout: float = HANG_GUARD) -> dict:
    """The job once it is in one of `states`. On a `stepped` client the queue is run
    here, job by job, until it is; elsewhere the worker thread runs it and this polls."""
    if getattr(client, "stepped", False):
        worker = client.app.state.studio.worker
        while (job := client.get(f"/api/jobs/{job_id}").json())["state"] not in states:
            assert worker.run_once(), f"job {job_id} still {job['state']}, the queue empty"
        return job
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout}s")
        time.sleep(0.02)


def wait_until(
    predicate, timeout: float = HANG_GUARD, what: str = "condition", every: float = 0.01
) -> None:
    """Poll `predicate` (something another thread or process makes true) every `every`
    seconds; `timeout` only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(every)


def cancel_at_step(
    monkeypatch: pytest.MonkeyPatch, client: TestClient, job_id: int, step: int = 2
) -> list[int]:
    """Have the job cancelled through the API from inside its own run, as it reports
    `step`: the cancel lands mid-job however fast or slow the job runs. Returns the
    cancel responses' status codes (one, once it was sent)."""
    from genlab.web.worker import RunContext

    report = RunContext.step
    sent: list[int] = []

    def step_then_cancel(context: RunContext, now: int, total: int, iteration: int = 0) -> None:
        report(context, now, total, iteration)
        if context.job.id == job_id and now >= step and not sent:
            sent.append(client.post(f"/api/jobs/{job_id}/cancel").status_code)

    monkeypatch.setattr(RunContext, "step", step_then_cancel)
    return sent


def hold_at_step(monkeypatch: pytest.MonkeyPatch, job_id: int, step: int) -> threading.Event:
    """Hold the job, once, as it reports `step`, until it is cancelled or the worker
    stops (then it ends there as it would anyway, at its next check). The event is set
    when it is held: a test sees it mid-run however fast or slow it runs."""
    from genlab.web.worker import RunContext

    report = RunContext.step
    held = threading.Event()

    def step_and_hold(context: RunContext, now: int, total: int, iteration: int = 0) -> None:
        report(context, now, total, iteration)
        if context.job.id != job_id or now < step or held.is_set():
            return
        held.set()
        guard = time.monotonic() + HANG_GUARD
        while not (
            context.worker.hub.cancel_requested(job_id)
            or context.worker.stopping
            or time.monotonic() > guard
        ):
            time.sleep(0.01)
        context.check()

    monkeypatch.setattr(RunContext, "step", step_and_hold)
    return held


def generate(client: TestClient, prompt: str = "a red circle", **fields) -> dict:
    response = client.post("/api/jobs", json={"kind": "generate", "prompt": prompt, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def generate_done(client: TestClient, prompt: str = "a red circle", **fields) -> dict:
    job = wait_for(client, generate(client, prompt, **fields)["id"])
    assert job["state"] == "done", job
    return job


def blocker(client: TestClient) -> dict:
    """A job that, once the worker takes it, stays running until the test cancels it
    or the studio stops: the worker is busy for exactly as long as the test needs,
    however slow or fast the machine."""
    return generate(client, HELD, width=32, height=32, seed=1)


def png_bytes(width: int = 32, height: int = 32, colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
