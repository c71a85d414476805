"""Generate images and save them with their metadata.

`generate` resolves the seed once (so the result and every file carry the real
one), reuses a loaded engine when the model and load options match, and runs it.
`save_result` writes A1111-style numbered files atomically, plus a labelled grid
for batches.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.core.errors import InvalidRequest
from genlab.core.request import DEFAULT_MODEL, GenerationRequest, LoadOptions
from genlab.core.result import GenerationResult, StepCallback

if TYPE_CHECKING:
    from genlab.core.engine import Engine
    from genlab.core.imageio import ImageMetadata

log = logging.getLogger(__name__)

IMAGE_FORMATS = ("png", "jpg", "webp")
_NUMBERED = re.compile(r"^(\d{5})-")
_GRID = re.compile(r"^grid-(\d{4})\.")


class EngineCache:
    """Keeps the most recently used engine loaded: loading a model costs far more
    than running it, and jobs for the same model usually come in runs. Only one is
    kept so two large checkpoints never sit in memory together."""

    def __init__(self) -> None:
        self._key: tuple[str, LoadOptions] | None = None
        self._engine: Engine | None = None

    def get(self, model: str, options: LoadOptions) -> Engine:
        from genlab.engines import load_engine

        key = (model, options)
        if self._key != key:
            self._engine = None  # drop the old model before loading the next
            started = time.perf_counter()
            self._engine = load_engine(model, options)
            log.info("loaded %s in %.2fs", model, time.perf_counter() - started)
            self._key = key
        assert self._engine is not None
        return self._engine

    def clear(self) -> None:
        self._key = self._engine = None


_shared_cache = EngineCache()


def new_request(**fields: object) -> GenerationRequest:
    """A request from the fields a user gave; the rest from the model's tuned settings
    (the built-in model's steps and guidance), else GenerationRequest's defaults."""
    from genlab.engines import model_defaults

    model = str(fields.get("model") or DEFAULT_MODEL)
    return GenerationRequest(**{**model_defaults(model), **fields})


def generate(
    request: GenerationRequest,
    *,
    load: LoadOptions | None = None,
    on_step: StepCallback | None = None,
    engines: EngineCache | None = None,
) -> GenerationResult:
    """Run one request on the engine its `model` names; the seed is resolved here."""
    engine = (engines or _shared_cache).get(request.model, load or LoadOptions())
    return engine.generate(request.with_seed(), on_step=on_step)


@dataclass(frozen=True)
class SavedImages:
    paths: tuple[Path, ...]
    grid: Path | None


def save_result(
    result: GenerationResult,
    out_dir: Path,
    *,
    image_format: str = "png",
    grid: bool = True,
    only: int | None = None,
) -> SavedImages:
    """Write `00001-<seed>.png`-style files (numbering continues what is there) and,
    for a batch, `grid-0001.png`. Each file is complete or absent, never partial.
    `only` saves just that image of the batch (its metadata still names the batch)."""
    from genlab.core.metadata import genlab_record, infotext, save_image
    from genlab.lab.grid import labelled_grid

    if image_format not in IMAGE_FORMATS:
        raise InvalidRequest("format", image_format, f"must be one of {', '.join(IMAGE_FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    number = _next_number(out_dir, _NUMBERED)
    indices = range(len(result.images)) if only is None else [only]
    paths = []
    for n, i in enumerate(indices):
        path = out_dir / f"{number + n:05d}-{result.seeds[i]}.{image_format}"
        save_image(result.images[i], path, infotext(result, i), genlab_record(result, i))
        paths.append(path)
    grid_path = None
    if grid and len(paths) > 1:
        sheet = labelled_grid(result.images, [f"seed {s}" for s in result.seeds])
        grid_path = out_dir / f"grid-{_next_number(out_dir, _GRID):04d}.png"
        # The grid carries the first image's parameters, as A1111's grids do.
        save_image(sheet, grid_path, infotext(result, 0))
    return SavedImages(tuple(paths), grid_path)


def reproduction(meta: ImageMetadata) -> tuple[GenerationRequest, int | None]:
    """The request that regenerates an image, and which image of its batch to keep.

    A batched model call can round differently from a single one (a level or two in a
    few pixels), so an image that came from a batch is reproduced exactly by running
    its whole batch again; its record says which batch and which index."""
    from genlab.core.metadata import request_from_metadata

    request = request_from_metadata(meta)
    batch = (meta.record or {}).get("batch")
    if not isinstance(batch, dict) or batch.get("size", 1) <= 1:
        return request, None
    try:
        size, index, first = int(batch["size"]), int(batch["index"]), int(batch["seed"])
        return request.replace(seed=first, batch_size=size), index
    except (KeyError, TypeError, ValueError):
        return request, None  # an unreadable batch note: regenerate the image alone


def _next_number(folder: Path, pattern: re.Pattern[str]) -> int:
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return max(numbers, default=0) + 1
