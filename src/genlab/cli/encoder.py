"""`genlab train shapes-encoder` — train the encoder behind the `shapes` feature extractor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown

Opt = typer.Option
console = Console(highlight=False)


@user_errors
def shapes_encoder(
    out: Annotated[Path, Opt("--out", "-o", help="Folder to write the encoder into.")],
    steps: Annotated[int, Opt(help="Optimiser steps (each on freshly rendered scenes).")] = 2200,
    batch_size: Annotated[int, Opt("--batch-size", "-b")] = 64,
    seed: Annotated[int, Opt(help="Seeds the scenes and the initial weights.")] = 0,
    threads: Annotated[int | None, Opt(help="CPU threads for torch (default: torch's).")] = None,
) -> None:
    """Train the Shapes World encoder used by `--extractor shapes`.

    Scenes are rendered on the fly (nothing is read from disk); the encoder learns to
    name each scene's shapes, colours, sizes, count, layout, background, lighting and
    style, and its embedding becomes the feature. Writes model.safetensors and
    config.json (with the held-out accuracy of every head); point the extractor's
    --weights at the folder to use it."""
    from genlab.services import training

    run = training.shapes_encoder(out, steps, batch_size, seed, threads)
    with progress_bar(console) as progress:
        task = progress.add_task("shapes encoder", total=steps)

        def on_step(info) -> None:
            progress.update(task, completed=info.step, description=f"loss {info.loss:.3f}")
            if info.accuracy is not None:
                # Held-out accuracy now and then, so a run can be stopped once it plateaus.
                scores = ", ".join(f"{k} {v:.2f}" for k, v in info.accuracy.items())
                console.print(f"step {info.step}: {scores}")

        result = run(on_step)
    console.print(
        f"{shown(result.out)}: {result.params:,} parameters, {result.steps} steps, "
        f"{result.seconds / 60:.1f} min"
    )
    for head, accuracy in result.accuracy.items():
        console.print(f"  {head:<11} {accuracy:.3f}")
