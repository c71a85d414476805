"""The worker: one thread inside the server process that runs queued jobs in order.

It keeps one EngineCache, so consecutive jobs for the same model share one load.
For each job: claim it, run it (reporting steps and, every few steps, a preview to
the progress hub), store every image file completely, then add all rows and mark
the job done in one transaction. A cancel request stops a running job at its next
step; a shutdown puts it back in the queue.

A sweep runs exactly as `genlab sweep` does, into a work folder of its own under the
data folder: its run record there lets a job interrupted by a crash or a shutdown
resume with the cells it had made. The folder goes once the job has ended.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from genlab.core.errors import GenlabError
from genlab.web import gallery, queue
from genlab.web.models import FINISHED_STATES, Image, Job
from genlab.web.progress import ProgressHub
from genlab.web.settings import Settings
from genlab.web.store import ImageStore, StoredFile

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from genlab.services.generation import EngineCache

log = logging.getLogger(__name__)

PREVIEW_SIDE = 256
MAX_PARTIAL_IMAGES = 64  # sent with a cancelled event: one full batch's worth
PROGRESS_WRITES = 10  # the database's progress column changes at most this often per job
WORK = "work"  # sweeps' work folders, inside the data folder
_WORK_NAME = re.compile(r"^job-(\d+)$")


class JobCancelled(Exception):
    """Raised from a step callback when the job's cancellation was requested."""


class StopRequested(Exception):
    """Raised from a step callback when the server shuts down."""


@dataclass
class RunContext:
    """What a job runner gets: where to report, and the files it stored so far."""

    worker: Worker
    job: Job
    stored: list[StoredFile] = field(default_factory=list)
    # Column values for some outputs, by their place in the runner's list (a sweep
    # image's cell, a contact sheet's role), set on the rows before they are committed.
    row_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # sent with the done event
    # What the job has made so far, as (image, A1111 parameters) pairs, for a client
    # that interrupts it (A1111 answers an interrupted txt2img with the partial image).
    # Set by the runner before each step report; called only once it is cancelled.
    partial: Callable[[], list[tuple[PILImage.Image, str]]] | None = None
    _written: int = 0  # progress tenths written to the database

    def check(self) -> None:
        if self.worker.hub.cancel_requested(self.job.id):
            raise JobCancelled
        if self.worker.stopping:
            raise StopRequested

    def step(self, step: int, total: int, iteration: int = 0) -> None:
        self.check()
        self.worker.hub.step(self.job.id, step, total, iteration)
        tenth = int(step / total * PROGRESS_WRITES) if total else 0
        if tenth > self._written:
            self._written = tenth
            with self.worker.sessions() as session:
                queue.set_progress(session, self.job.id, step / total)

    def preview(self, step: int, image: PILImage.Image) -> None:
        self.worker.hub.preview(self.job.id, step, preview_image(image))


Runner = Callable[[RunContext], list[gallery.NewImage]]


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ImageStore,
        hub: ProgressHub,
        settings: Settings,
        engines: EngineCache | None = None,
        *,
        runners: Mapping[str, Runner],
    ):
        from genlab.services.generation import EngineCache

        self.sessions = sessions
        self.store = store
        self.hub = hub
        self.settings = settings
        self.engines = engines or EngineCache()
        self.runners = runners  # by job kind: the kind table's (genlab.web.kinds)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self.clear_work()
        self._thread = threading.Thread(target=self._loop, name="genlab-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def work_dir(self, job_id: int) -> Path:
        """A job's own scratch folder (sweeps keep their resumable run there)."""
        return self.settings.data_dir / WORK / f"job-{job_id}"

    def clear_work(self) -> list[int]:
        """Remove work folders of jobs that will not run again (finished, or gone);
        called at start-up, when no job is running. Returns their job ids."""
        root = self.settings.data_dir / WORK
        found = {
            int(match.group(1)): path
            for path in (root.iterdir() if root.is_dir() else ())
            if (match := _WORK_NAME.match(path.name))
        }
        if not found:
            return []
        with self.sessions() as session:
            alive = set(
                session.scalars(
                    select(Job.id).where(Job.id.in_(found), Job.state.not_in(FINISHED_STATES))
                )
            )
        stale = sorted(set(found) - alive)
        for job_id in stale:
            shutil.rmtree(found[job_id], ignore_errors=True)
        return stale

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("worker still busy after %.0fs; leaving it", timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # a bug or a lost database: keep serving, try again soon
                log.exception("worker loop failed")
                ran = False
            if not ran:
                # The poll covers jobs queued by another process on the same database.
                self._wake.wait(timeout=1.0)
                self._wake.clear()

    def run_once(self) -> bool:
        """Run the next queued job, if any; False when the queue was empty."""
        with self.sessions() as session:
            job = queue.claim_next(session)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        context = RunContext(self, job)
        self.hub.started(job.id, total=0)
        try:
            context.check()
            new = self.runners[job.kind](context)
            self._drop_work(job.id)  # what a sweep made there, the store now holds
            with self.sessions() as session, self.store.lock:
                rows = gallery.add_images(session, new, owner_id=job.owner_id, job_id=job.id)
                for index, values in context.row_fields.items():
                    for name, value in values.items():
                        setattr(rows[index], name, value)
                queue.finish(session, job.id, "done", commit=False)
                session.commit()
                ids = [row.id for row in rows]
        except JobCancelled:
            self._end(context, "cancelled", partial=partial_images(context))
        except StopRequested:  # its work folder stays: the job resumes from there
            self._discard(context.stored)
            with self.sessions() as session:
                queue.requeue(session, job.id)
            self.hub.finished(job.id, "queued")
        except GenlabError as err:
            self._end(context, "failed", self.error_text(str(err)))
        except Exception as err:
            log.exception("job %d failed", job.id)
            internal = f"internal error: {type(err).__name__}: {err}"
            self._end(context, "failed", self.error_text(internal))
        else:
            extra = {"warnings": context.warnings} if context.warnings else {}
            self.hub.finished(job.id, "done", image_ids=ids, **extra)

    def error_text(self, message: str) -> str:
        """A failed job's error as every client sees it: files in the data folder named
        by their store path ("images/ab/….png"), not by where the server keeps them,
        and one short printable line."""
        # The folder as resolved (symlinks followed) and as configured: paths in
        # messages come in both forms.
        folders = {str(self.store.root), str(self.settings.data_dir.absolute())}
        for folder in sorted(folders, key=len, reverse=True):
            message = message.replace(folder + os.sep, "").replace(folder, "the data folder")
        return queue.error_line(message)

    def _end(
        self,
        context: RunContext,
        state: str,
        error: str | None = None,
        partial: list[str] | None = None,
    ) -> None:
        self._discard(context.stored)
        self._drop_work(context.job.id)
        with self.sessions() as session:
            queue.finish(session, context.job.id, state, error=error)
        data: dict[str, Any] = {"error": error} if error else {}
        if partial:
            data["partial"] = partial
        self.hub.finished(context.job.id, state, **data)

    def _drop_work(self, job_id: int) -> None:
        shutil.rmtree(self.work_dir(job_id), ignore_errors=True)

    def _discard(self, files: list[StoredFile]) -> None:
        """Remove files a stopped job stored, unless a row already holds the same bytes."""
        with self.sessions() as session, self.store.lock:
            for file in files:
                if not session.scalar(select(func.count()).where(Image.path == file.path)):
                    self.store.remove(file.path)


def partial_images(context: RunContext) -> list[str]:
    """Base64 PNGs (with their parameters) of what a cancelled job had made, for the
    cancelled event; none when its runner keeps no partial images."""
    from PIL.PngImagePlugin import PngInfo

    if context.partial is None:
        return []
    try:
        made = context.partial()[:MAX_PARTIAL_IMAGES]
    except Exception:  # a failed decode must not turn a cancel into a failure
        log.exception("job %d: its partial images could not be decoded", context.job.id)
        return []
    encoded = []
    for image, parameters in made:
        info = PngInfo()
        info.add_text("parameters", parameters)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)
        encoded.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return encoded


def preview_image(image: PILImage.Image) -> str:
    """A small PNG of a preview, as a data URI for SSE clients."""
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
