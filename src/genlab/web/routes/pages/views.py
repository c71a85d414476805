"""What the pages show about a job: its title, the settings on its card, a sweep's
grid, and the two filters for numbers and waits. The templates get them as globals
and filters (shared._templates)."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.web import kinds
from genlab.web.schemas import CellPublic, JobPublic


def duration(seconds: float | None) -> str:
    """A wait in words ("about 40 s", "about 3 min"); a dash when unknown."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"about {max(round(seconds), 1)} s"
    return f"about {round(seconds / 60)} min"


def number(value: object) -> str:
    """7.0 → "7", 7.5 → "7.5": form fields show numbers as people type them."""
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def job_title(job: JobPublic) -> str:
    return kinds.title(job.kind, job.request)


def job_details(job: JobPublic) -> list[str]:
    """The few settings worth a glance on a job card."""
    if job.kind == "sweep":
        return ["sweep", job.model or "", f"{job.request.get('cells')} images"]
    if job.kind not in ("generate", "img2img"):
        return [job.kind] + ([job.model] if job.model else [])
    request = job.request.get("request", {})
    size = f"{request['width']}×{request['height']}" if request.get("width") else "model's size"
    count = request.get("batch_size", 1) * job.request.get("n_iter", 1)
    details = [job.kind, request.get("model", ""), f"seed {request.get('seed')}", size]
    if count > 1:
        details.append(f"{count} images")
    return details


@dataclass(frozen=True)
class SweepGrid:
    """A sweep job's cells laid out as its contact sheets are: X values across, Y values
    down, one table per Z value. A slot holds its cell once made, None until then."""

    titles: tuple[str, str, str]  # the x, y and z axes' names; "" for an unused axis
    columns: tuple[str, ...]
    # per Z value: its label and rows; a row is its Y label and (cell index, cell) slots
    sheets: list[tuple[str, list[tuple[str, list[tuple[int, CellPublic | None]]]]]]


def sweep_grid(job: JobPublic) -> SweepGrid:
    axes = job.request["axes"]
    columns, rows, _ = job.request["shape"]
    made = {cell.index: cell for cell in job.cells or []}
    sheets = []
    for z, z_label in enumerate(axes[2]["labels"]):
        table = []
        for y, y_label in enumerate(axes[1]["labels"]):
            # Cells are numbered as they run: columns fastest, then rows, then sheets.
            first = (z * rows + y) * columns
            slots = [(i, made.get(i)) for i in range(first, first + columns)]
            table.append((y_label, slots))
        sheets.append((z_label, table))
    titles = (axes[0]["title"], axes[1]["title"], axes[2]["title"])
    return SweepGrid(titles, tuple(axes[0]["labels"]), sheets)
