"""`genlab world …` — Shapes World datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown

app = typer.Typer(help="Shapes World: procedural scenes and datasets.", no_args_is_help=True)
console = Console(highlight=False)


@app.command("dataset")
@user_errors
def dataset(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.")],
    n: Annotated[int, typer.Option("--n", help="Number of images.")] = 50000,
    size: Annotated[int, typer.Option(help="Image side in pixels (multiple of 8).")] = 64,
    seed: Annotated[int, typer.Option(help="Makes the dataset reproducible.")] = 0,
) -> None:
    """Write balanced training scenes as an imagefolder (images/, metadata.jsonl).

    Held-out colour-shape and relation combinations never appear (see split.json);
    re-running on an interrupted folder finishes it."""
    from genlab.services.datasets import shapes_world

    run = shapes_world(out, n, size, seed=seed)
    with progress_bar(console) as progress:
        task = progress.add_task("rendering", total=n)
        run(lambda i: progress.update(task, completed=i))
    console.print(f"{n} images in {shown(out)} (metadata.jsonl, split.json)")
