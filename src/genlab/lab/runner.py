"""Running a sweep: batched model calls, each image saved with its metadata and recorded
the moment it is on disk, then one contact sheet per Z value.

Re-running the same sweep into the same folder resumes its latest run: the record says
which cells are done (and their files are still there), and only the rest is generated.
A random seed is resolved once, when the run starts, and kept in the record, so the
resumed cells match the earlier ones.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.core.errors import InvalidRequest
from genlab.core.request import LoadOptions
from genlab.lab.records import DB_NAME, CellRecord, RunStore, open_store
from genlab.lab.sweep import Cell, Plan, SweepDefinition, batches, plan

if TYPE_CHECKING:
    from genlab.engines.cache import EngineCache


@dataclass(frozen=True)
class CellDone:
    cell: Cell
    path: Path
    skipped: bool  # made by an earlier run of this sweep
    done: int  # cells done so far, skipped ones included
    total: int


CellCallback = Callable[[CellDone], None]


@dataclass(frozen=True)
class SweepOutcome:
    run_id: int
    database: Path
    folder: Path
    plan: Plan
    generated: int
    skipped: int
    sheets: tuple[Path, ...]
    warnings: tuple[str, ...]


def run_sweep(
    definition: SweepDefinition,
    out: Path,
    *,
    database: Path | None = None,
    load: LoadOptions | None = None,
    engines: EngineCache | None = None,
    on_cell: CellCallback | None = None,
    fresh: bool = False,
    image_format: str = "png",
) -> SweepOutcome:
    """Run (or resume) `definition` into `out/sweep-<run>/`; `fresh` starts a new run
    even when an earlier one of the same sweep exists."""
    from genlab.engines.cache import EngineCache

    check_format(image_format)
    out = Path(out)
    with open_store(database or out / DB_NAME) as store:
        previous = None if fresh else store.find_run(definition.key(), out)
        if previous is not None:
            run_id, folder = previous.id, previous.folder
            cells = plan(SweepDefinition.from_dict(previous.definition))
            store.reopen_run(run_id)
        else:
            resolved = definition.resolved()
            cells = plan(resolved)  # validates before the run is recorded
            run_id = store.start_run(
                resolved.to_dict(), key=definition.key(), out_dir=out, cell_count=len(cells)
            )
            folder = store.get_run(run_id).folder
        folder.mkdir(parents=True, exist_ok=True)
        job = _Job(store, run_id, folder, cells, load or LoadOptions(), image_format, on_cell)
        try:
            job.run(engines or EngineCache())
            sheets = write_contact_sheets(cells, job.paths, folder)
        except BaseException as err:  # Ctrl-C included: the run is resumable, say why it stopped
            store.finish_run(run_id, status="stopped", error=f"{type(err).__name__}: {err}")
            raise
        store.finish_run(run_id)
        return SweepOutcome(
            run_id=run_id,
            database=store.path,
            folder=folder,
            plan=cells,
            generated=job.generated,
            skipped=job.skipped,
            sheets=sheets,
            warnings=tuple(job.warnings),
        )


class _Job:
    """One pass over a plan's cells: skips the recorded ones, generates the rest."""

    def __init__(
        self,
        store: RunStore,
        run_id: int,
        folder: Path,
        cells: Plan,
        load: LoadOptions,
        image_format: str,
        on_cell: CellCallback | None,
    ) -> None:
        self.store, self.run_id, self.folder, self.plan = store, run_id, folder, cells
        self.load, self.image_format, self.on_cell = load, image_format, on_cell
        self.paths: dict[int, Path] = {}
        self.generated = self.skipped = 0
        self.warnings: list[str] = []

    def run(self, engines: EngineCache) -> None:
        recorded = {c.index: c.image_path for c in self.store.cells(self.run_id)}
        for cell in self.plan.cells:
            path = recorded.get(cell.index)
            if path is not None and path.is_file():  # a deleted image is made again
                self.skipped += 1
                self._done(cell, path, skipped=True)
        todo = [cell for cell in self.plan.cells if cell.index not in self.paths]
        for call in batches(todo):
            self._generate(call, engines)

    def _generate(self, call: tuple[Cell, ...], engines: EngineCache) -> None:
        from genlab.core.metadata import genlab_record, infotext, save_image
        from genlab.engines.cache import generate

        request = call[0].request.replace(batch_size=len(call))
        started = time.perf_counter()
        engines.get(request.model, self.load)  # timed apart: only the first call loads
        load_s = time.perf_counter() - started
        result = generate(request, load=self.load, engines=engines)
        self.warnings.extend(w for w in result.warnings if w not in self.warnings)
        share = result.timings.get("generate_s", 0.0) / len(call)
        for i, cell in enumerate(call):
            started = time.perf_counter()
            path = self.folder / f"{cell.index:05d}-{result.seeds[i]}.{self.image_format}"
            record = genlab_record(result, i)
            record["sweep"] = {"run": self.run_id, "cell": cell.index, "labels": cell.labels}
            save_image(result.images[i], path, infotext(result, i), record)
            timings = {"generate_s": share, "save_s": time.perf_counter() - started}
            if i == 0:
                timings["load_s"] = load_s
            self.store.record_cell(
                self.run_id,
                CellRecord(
                    index=cell.index,
                    position=cell.position,
                    labels=cell.labels,
                    request=record["request"],  # as run: concrete seed and size
                    image_path=path,
                    image_sha256=file_sha256(path),
                    timings={**timings, "batch_size": len(call)},
                ),
            )
            self.generated += 1
            self._done(cell, path, skipped=False)

    def _done(self, cell: Cell, path: Path, *, skipped: bool) -> None:
        self.paths[cell.index] = path
        if self.on_cell is not None:
            self.on_cell(CellDone(cell, path, skipped, len(self.paths), len(self.plan)))


def write_contact_sheets(cells: Plan, paths: dict[int, Path], folder: Path) -> tuple[Path, ...]:
    """One sheet per Z value: `sheet.png`, or `sheet-z0.png`, `sheet-z1.png`, …"""
    from PIL import Image

    from genlab.core.imageio import read_metadata, save_image
    from genlab.lab.contact_sheet import contact_sheet

    x_axis, y_axis, z_axis = cells.axes
    _, rows, depth = cells.shape
    sheets = []
    for z in range(depth):
        table: list[list[Image.Image]] = [[] for _ in range(rows)]
        first: Path | None = None
        for cell in cells.cells:
            if cell.position[2] == z:
                first = first or paths[cell.index]
                with Image.open(paths[cell.index]) as image:
                    table[cell.position[1]].append(image.convert("RGB"))
        sheet = contact_sheet(
            table,
            column_labels=x_axis.labels,
            row_labels=y_axis.labels,
            column_title=x_axis.title,
            row_title=y_axis.title,
            title=f"{z_axis.title}: {z_axis.labels[z]}" if z_axis.title else "",
        )
        path = folder / (f"sheet-z{z}.png" if z_axis.title else "sheet.png")
        # As A1111's grids do, the sheet carries its first image's parameters.
        parameters = read_metadata(first).parameters if first else None
        sheets.append(save_image(sheet, path, parameters or ""))
    return tuple(sheets)


def check_format(image_format: str) -> None:
    from genlab.core.imageio import IMAGE_FORMATS

    if image_format not in IMAGE_FORMATS:
        raise InvalidRequest("format", image_format, f"must be one of {', '.join(IMAGE_FORMATS)}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
