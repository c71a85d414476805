"""The in-memory progress hub between the worker thread and whoever watches.

The worker publishes events (started, progress, preview, done, failed, cancelled);
Server-Sent-Event streams and A1111 callers waiting for a result subscribe. The
database holds the durable state; this hub only carries what changes many times a
second and need not survive a restart (step counts, preview images).

Subscribers live on an asyncio loop while the worker is a thread, so events cross
over with `loop.call_soon_threadsafe`. With several server processes, each has its own
hub, and `bridge` relays events between them (the worker runs in one process only).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

TERMINAL_EVENTS = ("done", "failed", "cancelled")


@dataclass
class LiveJob:
    """What the running job is doing now (A1111's /sdapi/v1/progress reads this)."""

    job_id: int
    total: int
    step: int = 0
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)  # for A1111's job_timestamp
    preview_png: bytes | None = None
    preview_step: int = 0
    iteration: int = 0  # which of the job's n_iter batches is running
    iterations: int = 1

    @property
    def fraction(self) -> float:
        return min(self.step / self.total, 1.0) if self.total else 0.0


class Subscription:
    """Events of one job (or of all jobs, job_id None) for one asyncio consumer."""

    def __init__(self, hub: ProgressHub, job_id: int | None):
        self.hub = hub
        self.job_id = job_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.hub.unsubscribe(self)


class ProgressHub:
    """Events of this process's worker, or of the leader's (see `bridge`), to this
    process's subscribers.

    Every event goes through `deliver`, which first updates what `live()` and
    `cancel_requested()` report, then hands it to subscribers. `forward` (set when
    several server processes share the data folder) sends what this process publishes
    to the others; `on_wake` (set in the process that runs jobs) is called when a job
    was queued anywhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._live: LiveJob | None = None
        self._cancel: set[int] = set()
        self.forward: Callable[[dict[str, Any]], None] | None = None
        self.on_wake: Callable[[], None] | None = None

    # -- watching --------------------------------------------------------------------

    def subscribe(self, job_id: int | None) -> Subscription:
        """Call from async code, before reading the job's state from the database,
        so that nothing published in between is missed."""
        subscription = Subscription(self, job_id)
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def live(self) -> LiveJob | None:
        with self._lock:
            return None if self._live is None else LiveJob(**vars(self._live))

    def snapshot(self) -> dict[str, Any]:
        """The running job's state as a message, for a process that just connected."""
        live = self.live()
        if live is None:
            return {"control": "live", "live": None}
        state = {k: v for k, v in vars(live).items() if k not in ("preview_png", "started")}
        state["elapsed"] = time.monotonic() - live.started
        if live.preview_png is not None:
            state["preview"] = base64.b64encode(live.preview_png).decode()
        return {"control": "live", "live": state}

    # -- publishing (worker thread) ------------------------------------------------------

    def publish(self, job_id: int, event: str, **data: Any) -> None:
        message = {"event": event, "job_id": job_id, **data}
        self.deliver(message)
        self._send(message)

    def started(self, job_id: int, total: int, iterations: int = 1) -> None:
        self.publish(job_id, "started", total=total, iterations=iterations)

    def step(self, job_id: int, step: int, total: int, iteration: int = 0) -> None:
        self.publish(
            job_id, "progress", step=step, total=total, progress=step / total, iteration=iteration
        )

    def preview(self, job_id: int, step: int, data_uri: str) -> None:
        self.publish(job_id, "preview", step=step, image=data_uri)

    def finished(self, job_id: int, event: str, **data: Any) -> None:
        """The job ended (done, failed, cancelled) or went back to the queue ("queued")."""
        self.publish(job_id, event, **data)

    def deliver(self, message: dict[str, Any]) -> None:
        """An event or control message from this process or another one."""
        control = message.get("control")
        if control is not None:
            self._control(control, message)
            return
        self._apply(message)
        job_id = message.get("job_id")
        with self._lock:
            targets = [s for s in self._subscribers if s.job_id in (None, job_id)]
        for subscription in targets:
            try:
                subscription.loop.call_soon_threadsafe(subscription.queue.put_nowait, message)
            except RuntimeError:  # its loop has closed: the watcher is gone
                self.unsubscribe(subscription)

    def _apply(self, message: dict[str, Any]) -> None:
        event, job_id = message.get("event"), message.get("job_id")
        with self._lock:
            if event == "started":
                self._live = LiveJob(
                    job_id=job_id,
                    total=message.get("total", 0),
                    iterations=message.get("iterations", 1),
                )
                return
            live = self._live if self._live is not None and self._live.job_id == job_id else None
            if event == "progress" and live is not None:
                live.step, live.total = message["step"], message["total"]
                live.iteration = message.get("iteration", 0)
            elif event == "preview" and live is not None:
                live.preview_png = _png_of(message["image"])
                live.preview_step = message["step"]
            elif event in (*TERMINAL_EVENTS, "queued"):
                if live is not None:
                    self._live = None
                self._cancel.discard(job_id)

    def _control(self, control: str, message: dict[str, Any]) -> None:
        if control == "cancel":
            with self._lock:
                self._cancel.add(message["job_id"])
        elif control == "wake" and self.on_wake is not None:
            self.on_wake()
        elif control == "live":
            state = message.get("live")
            with self._lock:
                self._live = None if state is None else _live_of(state)

    def _send(self, message: dict[str, Any]) -> None:
        forward = self.forward
        if forward is not None:
            forward(message)

    # -- cancelling and waking -----------------------------------------------------------

    def request_cancel(self, job_id: int) -> None:
        message = {"control": "cancel", "job_id": job_id}
        self.deliver(message)
        self._send(message)

    def cancel_requested(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._cancel

    def wake(self) -> None:
        """A job was queued: the worker, in this process or another, looks now."""
        message = {"control": "wake"}
        self.deliver(message)
        self._send(message)


def _png_of(data_uri: str) -> bytes:
    return base64.b64decode(data_uri.partition(",")[2])


def _live_of(state: dict[str, Any]) -> LiveJob:
    preview = state.pop("preview", None)
    elapsed = state.pop("elapsed", 0.0)
    live = LiveJob(**state)
    live.started = time.monotonic() - elapsed
    live.preview_png = None if preview is None else base64.b64decode(preview)
    return live
