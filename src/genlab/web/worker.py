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
import dataclasses
import io
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from genlab.core.errors import GenlabError
from genlab.core.request import SEED_LIMIT, GenerationRequest
from genlab.core.result import StepEvent
from genlab.web import gallery, jobs
from genlab.web.models import FINISHED_STATES, Image, Job
from genlab.web.progress import ProgressHub
from genlab.web.settings import Settings
from genlab.web.store import ImageStore, StoredFile

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from genlab.services.generation import EngineCache

log = logging.getLogger(__name__)

PREVIEW_SIDE = 256
PROGRESS_WRITES = 10  # the database's progress column changes at most this often per job
STYLE_PREVIEW_EVERY = 10  # loss evaluations between style previews (each one is cheap)
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
                jobs.set_progress(session, self.job.id, step / total)

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
    ):
        from genlab.services.generation import EngineCache

        self.sessions = sessions
        self.store = store
        self.hub = hub
        self.settings = settings
        self.engines = engines or EngineCache()
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
            job = jobs.claim_next(session)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        context = RunContext(self, job)
        self.hub.started(job.id, total=0)
        try:
            context.check()
            new = RUNNERS[job.kind](context)
            self._drop_work(job.id)  # what a sweep made there, the store now holds
            with self.sessions() as session, self.store.lock:
                rows = gallery.add_images(session, new, owner_id=job.owner_id, job_id=job.id)
                for index, values in context.row_fields.items():
                    for name, value in values.items():
                        setattr(rows[index], name, value)
                jobs.finish(session, job.id, "done", commit=False)
                session.commit()
                ids = [row.id for row in rows]
        except JobCancelled:
            self._end(context, "cancelled")
        except StopRequested:  # its work folder stays: the job resumes from there
            self._discard(context.stored)
            with self.sessions() as session:
                jobs.requeue(session, job.id)
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
        return jobs.error_line(message)

    def _end(self, context: RunContext, state: str, error: str | None = None) -> None:
        self._discard(context.stored)
        self._drop_work(context.job.id)
        with self.sessions() as session:
            jobs.finish(session, context.job.id, state, error=error)
        data = {"error": error} if error else {}
        self.hub.finished(context.job.id, state, **data)

    def _drop_work(self, job_id: int) -> None:
        shutil.rmtree(self.work_dir(job_id), ignore_errors=True)

    def _discard(self, files: list[StoredFile]) -> None:
        """Remove files a stopped job stored, unless a row already holds the same bytes."""
        with self.sessions() as session, self.store.lock:
            for file in files:
                if not session.scalar(select(func.count()).where(Image.path == file.path)):
                    self.store.remove(file.path)


# -- runners -----------------------------------------------------------------------------


def run_generation(context: RunContext) -> list[gallery.NewImage]:
    """txt2img / img2img: n_iter batches with seeds continuing batch to batch, as A1111."""
    from genlab.services.generation import generate

    worker, job = context.worker, context.job
    data = jobs.payload(job)
    stored_request = GenerationRequest.from_dict(data["request"])
    n_iter = int(data.get("n_iter", 1))
    # The engine reads inputs by absolute path; metadata keeps the data-folder path.
    inputs = {
        name: str(worker.store.resolve(value))
        for name in ("init_image", "mask")
        if (value := getattr(stored_request, name)) is not None
    }
    new: list[gallery.NewImage] = []
    for iteration in range(n_iter):
        context.check()
        seed = (stored_request.seed + iteration * stored_request.batch_size) % SEED_LIMIT
        request = stored_request.replace(seed=seed, **inputs)

        def on_step(event: StepEvent, iteration: int = iteration) -> None:
            context.step(iteration * event.total + event.step, n_iter * event.total, iteration)
            every = worker.settings.preview_every
            if event.preview is not None and event.step % every == 0 and event.step < event.total:
                context.preview(event.step, event.preview()[-1])

        result = generate(request, on_step=on_step, engines=worker.engines)
        shown = result.request.replace(
            init_image=stored_request.init_image, mask=stored_request.mask
        )
        result = dataclasses.replace(result, request=shown)
        for i in range(len(result.images)):
            item = gallery.store_generated(worker.store, result, i)
            context.stored.append(item.file)
            new.append(item)
    return new


def run_recolor(context: RunContext) -> list[gallery.NewImage]:
    """A gallery image recoloured like another one or onto a palette."""
    from genlab.core.images import open_image
    from genlab.services import tools

    data = jobs.payload(context.job)
    (source, source_path), *like = _sources(context, data["image_id"], data.get("like_image_id"))
    request = jobs.recolor_request(data)
    context.step(0, 1)
    result = tools.recolor(
        request,
        open_image(source_path, what="image"),
        like=open_image(like[0][1], what="reference") if like else None,
    )
    context.step(1, 1)
    params: dict[str, object] = {"method": data["method"]}
    if data.get("palette"):
        params["palette"] = data["palette"]
    else:
        params["reference"] = f"image {data['like_image_id']}"
    params.update(strength=data["strength"], seed=data["seed"])
    return [_tool_output(context, source, source_path, result.image, "recolor", params)]


def run_upscale(context: RunContext) -> list[gallery.NewImage]:
    """A gallery image upscaled by 2 or 4, tile by tile (each tile is a step)."""
    from genlab.core.images import open_image
    from genlab.services import tools

    data = jobs.payload(context.job)
    [(source, source_path)] = _sources(context, data["image_id"])
    request = tools.UpscaleRequest(
        model=data["model"], scale=int(data["scale"]), tile=int(data["tile"])
    )
    scale, result = tools.upscale(
        request,
        open_image(source_path, what="image"),
        on_step=lambda event: context.step(event.step, event.total),
    )
    params = tools.upscale_params(request, scale, result)
    return [_tool_output(context, source, source_path, result.image, "upscale", params)]


def run_style(context: RunContext) -> list[gallery.NewImage]:
    """Neural style transfer as `genlab style` runs it: each loss evaluation is a step,
    every few a preview; without VGG-19 weights on disk the random-filter fallback
    runs, and its name is in the image's parameters and the done event."""
    from genlab.core.images import open_image
    from genlab.services import tools

    data = jobs.payload(context.job)
    content_row, content_path = _tool_input(context, data["content_image"])
    style_row, style_path = _tool_input(context, data["style_image"])
    request = tools.StyleRequest(data["config"], frame_every=STYLE_PREVIEW_EVERY)

    def on_step(event: StepEvent) -> None:
        if event.preview is not None:
            context.preview(event.step, event.preview()[-1])
        else:
            context.step(event.step, event.total)

    result = tools.stylize(
        request,
        open_image(content_path, what="content image"),
        open_image(style_path, what="style image", keep_alpha=False),
        on_step=on_step,
    )
    if result.notice:
        context.warnings.append(result.notice)
    style_name = f"image {style_row.id}" if style_row else f"upload {style_path.stem[:12]}"
    params = {**result.params(), "style image": style_name}
    return [_tool_output(context, content_row, content_path, result.image, "style", params)]


def run_sweep_job(context: RunContext) -> list[gallery.NewImage]:
    """A sweep through `genlab sweep`'s runner. Each cell enters the store the moment it
    is made and is announced (a `cell` event with its file's URL, and the job's cells
    column), so a page can fill the sheet in; its row waits for the job's end, like
    every image. The contact sheets follow, as rows with role "sheet"."""
    from genlab.core.imageio import read_metadata
    from genlab.services.sweeps import CellDone, SweepDefinition, run_sweep

    worker, job = context.worker, context.job
    data = jobs.payload(job)
    definition = SweepDefinition.from_dict(data["definition"])
    made: dict[int, gallery.NewImage] = {}
    cells: list[tuple[int, str]] = []

    def on_cell(done: CellDone) -> None:
        context.check()
        file = _store_copy(context, done.path)
        meta = read_metadata(done.path)
        record = meta.record or {}
        made[done.cell.index] = gallery.NewImage(
            file=file,
            prompt=record.get("prompt_used", ""),
            negative_prompt=record.get("negative_prompt_used", ""),
            model=record.get("model"),
            seed=(record.get("request") or {}).get("seed"),
            parameters=meta.parameters or "",
            request=record.get("request"),
        )
        cells.append((done.cell.index, file.path))
        with worker.sessions() as session:
            jobs.set_cells(session, job.id, cells)
        worker.hub.publish(
            job.id,
            "cell",
            index=done.cell.index,
            position=list(done.cell.position),
            labels=list(done.cell.labels),
            url=f"/files/{file.path}",
            step=done.done,
            total=done.total,
        )
        context.step(done.done, done.total)

    outcome = run_sweep(
        definition, worker.work_dir(job.id), engines=worker.engines, on_cell=on_cell
    )
    if outcome.skipped:
        log.info("sweep job %d resumed: %d cells from its earlier run", job.id, outcome.skipped)
    context.warnings.extend(outcome.warnings)
    new = [made[index] for index in sorted(made)]
    context.row_fields.update({i: {"sweep_cell": index} for i, index in enumerate(sorted(made))})
    columns, rows, _ = data["shape"]
    for z, sheet in enumerate(outcome.sheets):
        # As A1111's grids, a sheet is described as its first image (parameters too).
        first = made[z * columns * rows]
        context.row_fields[len(new)] = {"role": "sheet"}
        new.append(
            gallery.NewImage(
                file=_store_copy(context, sheet),
                prompt=definition.fields["prompt"],
                negative_prompt=definition.fields.get("negative_prompt", ""),
                model=first.model,
                seed=first.seed,
                parameters=read_metadata(sheet).parameters or "",
                request=None,  # a grid of requests, not one
            )
        )
    return new


def _store_copy(context: RunContext, path: Path) -> StoredFile:
    """Put a finished file into the store as it is (metadata and all)."""
    from PIL import Image as PILImage

    with PILImage.open(path) as image:
        width, height = image.size
    file = context.worker.store.put_file(
        lambda target: shutil.copyfile(path, target), width, height
    )
    context.stored.append(file)
    return file


def _tool_input(context: RunContext, given: dict[str, Any]) -> tuple[Image | None, Path]:
    """A style input: a gallery image (its row and file) or an upload (its file)."""
    if given.get("image_id") is not None:
        [(row, path)] = _sources(context, given["image_id"])
        return row, path
    return None, context.worker.store.resolve(given["path"])


def _sources(context: RunContext, *ids: int | None) -> list[tuple[Image, Path]]:
    """Gallery rows and their files for the ids given (None ids skipped)."""
    with context.worker.sessions() as session:
        rows = [gallery.get_image(session, i) for i in ids if i is not None]
        return [(row, gallery.image_file(context.worker.store, row)) for row in rows]


def _tool_output(
    context: RunContext,
    source: Image | None,
    source_path: Path,
    image: PILImage.Image,
    tool: str,
    params: dict[str, object],
) -> gallery.NewImage:
    """Store a tool's output with the source's parameters plus the tool's (as the CLI's
    tools write them) and describe it as the source's prompt, seed and model (an
    upload that is no gallery image has none)."""
    from genlab.core.imageio import read_metadata
    from genlab.services.outputs import save_tool_image

    file = context.worker.store.put_file(
        lambda path: save_tool_image(image, path, tool=tool, params=params, source=source_path),
        image.width,
        image.height,
    )
    context.stored.append(file)
    meta = read_metadata(context.worker.store.resolve(file.path))
    return gallery.NewImage(
        file=file,
        prompt=source.prompt if source else "",
        negative_prompt=source.negative_prompt if source else "",
        model=source.model if source else None,
        seed=source.seed if source else None,
        parameters=meta.parameters or "",
        request=(meta.record or {}).get("request"),
    )


RUNNERS: dict[str, Runner] = {
    "generate": run_generation,
    "img2img": run_generation,
    "recolor": run_recolor,
    "upscale": run_upscale,
    "style": run_style,
    "sweep": run_sweep_job,
}


def preview_image(image: PILImage.Image) -> str:
    """A small PNG of a preview, as a data URI for SSE clients."""
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
