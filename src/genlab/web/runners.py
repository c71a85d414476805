"""The job runners: what the worker calls for each job kind, each one a service call
(genlab.services) with the job's stored request, its progress reported through the
RunContext and its outputs stored as gallery images. The kind table
(genlab.web.kinds) names the runner of every kind.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.request import SEED_LIMIT, GenerationRequest
from genlab.core.result import StepEvent
from genlab.web import gallery, jobs, queue
from genlab.web.models import Image
from genlab.web.store import StoredFile
from genlab.web.worker import MAX_PARTIAL_IMAGES, RunContext

if TYPE_CHECKING:
    from PIL import Image as PILImage

log = logging.getLogger(__name__)

STYLE_PREVIEW_EVERY = 10  # loss evaluations between style previews (each one is cheap)


# -- runners -----------------------------------------------------------------------------


def run_generation(context: RunContext) -> list[gallery.NewImage]:
    """txt2img / img2img: n_iter batches with seeds continuing batch to batch, as A1111."""
    from genlab.services.generation import generate

    worker, job = context.worker, context.job
    data = queue.payload(job)
    stored_request = GenerationRequest.from_dict(data["request"])
    n_iter = int(data.get("n_iter", 1))
    image_format = data.get("format", "png")
    # The engine reads inputs by absolute path; metadata keeps the data-folder path.
    inputs = {
        name: str(worker.store.resolve(value))
        for name in ("init_image", "mask")
        if (value := getattr(stored_request, name)) is not None
    }
    new: list[gallery.NewImage] = []
    made: list[tuple[PILImage.Image, str]] = []  # finished images, for an interrupt
    for iteration in range(n_iter):
        context.check()
        seed = (stored_request.seed + iteration * stored_request.batch_size) % SEED_LIMIT
        request = stored_request.replace(seed=seed, **inputs)

        def on_step(
            event: StepEvent, iteration: int = iteration, request: GenerationRequest = request
        ) -> None:
            # Set before the report, which raises once the job is cancelled.
            context.partial = lambda: made + _partial(request, event)
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
            item = gallery.store_generated(worker.store, result, i, image_format=image_format)
            context.stored.append(item.file)
            new.append(item)
            if len(made) < MAX_PARTIAL_IMAGES:  # only these are sent; keep no more
                made.append((result.images[i], item.parameters))
    return new


def _partial(request: GenerationRequest, event: StepEvent) -> list[tuple[PILImage.Image, str]]:
    """The images a generation shows at `event` (decoded from its latents, or drawn so
    far), each with parameters that say where it was interrupted."""
    from genlab.core.metadata import format_parameters, version_string

    if event.preview is None:
        return []
    found = []
    for index, image in enumerate(event.preview()):
        params = {
            "Steps": request.steps,
            "Sampler": request.sampler,
            "CFG scale": request.guidance_scale,
            "Seed": (request.seed + index) % SEED_LIMIT,
            "Size": f"{image.width}x{image.height}",
            "Model": request.model,
            "Interrupted": f"at step {event.step} of {event.total}",
            "Version": version_string(),
        }
        found.append((image, format_parameters(request.prompt, request.negative_prompt, params)))
    return found


def run_recolor(context: RunContext) -> list[gallery.NewImage]:
    """A gallery image recoloured like another one or onto a palette."""
    from genlab.core.images import open_image
    from genlab.services import tools

    data = queue.payload(context.job)
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

    data = queue.payload(context.job)
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

    data = queue.payload(context.job)
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
    data = queue.payload(job)
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
            queue.set_cells(session, job.id, cells)
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
