"""Generate images and save them with their metadata.

`generate` (from genlab.engines.cache) resolves the seed once (so the result and
every file carry the real one), reuses a loaded engine when the model and load
options match, and runs it.
`save_result` writes A1111-style numbered files atomically, plus a labelled grid
for batches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.core.errors import InvalidRequest
from genlab.core.imageio import IMAGE_FORMATS
from genlab.core.request import GenerationRequest
from genlab.core.result import GenerationResult
from genlab.engines.cache import EngineCache, generate, new_request

if TYPE_CHECKING:
    from genlab.core.imageio import ImageMetadata

_NUMBERED = re.compile(r"^(\d{5})-")
_GRID = re.compile(r"^grid-(\d{4})\.")
__all__ = [
    "IMAGE_FORMATS",
    "EngineCache",
    "SavedImages",
    "generate",
    "new_request",
    "reproduction",
    "save_result",
]


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
    from genlab.core.grid import labelled_grid
    from genlab.core.metadata import genlab_record, infotext, save_image

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
