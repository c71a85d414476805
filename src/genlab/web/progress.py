"""The in-memory progress hub between the worker thread and whoever watches.

The worker publishes events (started, progress, preview, done, failed, cancelled);
Server-Sent-Event streams and A1111 callers waiting for a result subscribe. The
database holds the durable state; this hub only carries what changes many times a
second and need not survive a restart (step counts, preview images).

Subscribers live on an asyncio loop while the worker is a thread, so events cross
over with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
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
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._live: LiveJob | None = None
        self._cancel: set[int] = set()

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

    # -- publishing (worker thread) ------------------------------------------------------

    def publish(self, job_id: int, event: str, **data: Any) -> None:
        message = {"event": event, "job_id": job_id, **data}
        with self._lock:
            targets = [s for s in self._subscribers if s.job_id in (None, job_id)]
        for subscription in targets:
            try:
                subscription.loop.call_soon_threadsafe(subscription.queue.put_nowait, message)
            except RuntimeError:  # its loop has closed: the watcher is gone
                self.unsubscribe(subscription)

    def started(self, job_id: int, total: int, iterations: int = 1) -> None:
        with self._lock:
            self._live = LiveJob(job_id=job_id, total=total, iterations=iterations)
        self.publish(job_id, "started", total=total)

    def step(self, job_id: int, step: int, total: int, iteration: int = 0) -> None:
        with self._lock:
            if self._live is not None and self._live.job_id == job_id:
                self._live.step, self._live.total = step, total
                self._live.iteration = iteration
        self.publish(job_id, "progress", step=step, total=total, progress=step / total)

    def preview(self, job_id: int, step: int, png: bytes, data_uri: str) -> None:
        with self._lock:
            if self._live is not None and self._live.job_id == job_id:
                self._live.preview_png, self._live.preview_step = png, step
        self.publish(job_id, "preview", step=step, image=data_uri)

    def finished(self, job_id: int, event: str, **data: Any) -> None:
        """The job ended (done, failed, cancelled) or went back to the queue ("queued")."""
        with self._lock:
            if self._live is not None and self._live.job_id == job_id:
                self._live = None
            self._cancel.discard(job_id)
        self.publish(job_id, event, **data)

    # -- cancelling ----------------------------------------------------------------------

    def request_cancel(self, job_id: int) -> None:
        with self._lock:
            self._cancel.add(job_id)

    def cancel_requested(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._cancel
