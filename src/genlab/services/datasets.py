"""Datasets a user can ask for: Shapes World training scenes written as an imagefolder.
The CLI's `genlab world dataset` calls this."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from genlab.services.outputs import check_output_folder


def shapes_world(
    out: Path,
    n: int,
    size: int,
    *,
    seed: int = 0,
) -> Callable[[Callable[[int], None] | None], Path]:
    """Write `n` balanced Shapes World scenes under `out` (images/, metadata.jsonl,
    split.json); an interrupted folder is finished, not restarted. The folder is
    checked now; the returned run, called with an `on_image`, writes it."""
    from genlab.world.dataset import export

    check_output_folder(out)
    return lambda on_image: export(out, n, size, seed=seed, on_image=on_image)
