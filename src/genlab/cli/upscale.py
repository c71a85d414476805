"""`genlab upscale`, `genlab eval sr` and `genlab train sr` — super-resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown

console = Console(highlight=False)
Opt = typer.Option

MODEL_HELP = "bicubic, lanczos, espcn (shipped) or an SR model file spandrel knows."


@user_errors
def upscale(
    image: Annotated[Path, typer.Argument(help="The image to upscale.")],
    scale: Annotated[
        int | None, Opt("--scale", "-s", help="2 or 4 (default: the model's own, else 2).")
    ] = None,
    model: Annotated[str, Opt("--model", "-m", help=MODEL_HELP)] = "espcn",
    tile: Annotated[int, Opt(help="Tile size in input pixels; 0 = whole image.")] = 256,
    out: Annotated[Path, Opt("--out", "-o", help="Output folder or file.")] = Path(
        "outputs/upscale"
    ),
    allow_pickle: Annotated[bool, Opt(help="Allow pickled .pth/.pt/.ckpt models.")] = False,
    device: Annotated[str | None, Opt(help="cuda, mps or cpu (default: best).")] = None,
) -> None:
    """Upscale an image by 2 or 4 with a resampler, the shipped ESPCN or a pretrained model."""
    from genlab.core.images import open_image
    from genlab.core.result import StepEvent
    from genlab.services import tools
    from genlab.services.outputs import output_path, save_tool_image

    request = tools.UpscaleRequest(
        model=model, scale=scale, tile=tile, allow_pickle=allow_pickle, device=device
    )
    source = open_image(image, what="image")
    target = output_path(out, image, "upscale")  # checks --out before any work
    with progress_bar(console) as progress:
        task = progress.add_task(f"upscaling {shown(model)}", total=None)

        def on_step(event: StepEvent) -> None:
            progress.update(task, completed=event.step, total=event.total)

        scale, result = tools.upscale(request, source, on_step=on_step)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {shown(note)}")
    params = tools.upscale_params(request, scale, result)
    saved = save_tool_image(result.image, target, tool="upscale", params=params, source=image)
    console.print(shown(saved))
    console.print(f"{source.width}x{source.height} → {result.image.width}x{result.image.height}")


@user_errors
def eval_sr(
    model: Annotated[str, Opt("--model", "-m", help=MODEL_HELP)] = "espcn",
    scale: Annotated[int, Opt("--scale", "-s", help="2 or 4.")] = 2,
    tile: Annotated[int, Opt(help="Tile size in input pixels; 0 = whole image.")] = 0,
    as_json: Annotated[bool, Opt("--json", help="Print JSON instead of a table.")] = False,
    allow_pickle: Annotated[bool, Opt(help="Allow pickled .pth/.pt/.ckpt models.")] = False,
    device: Annotated[str | None, Opt(help="cuda, mps or cpu (default: best).")] = None,
) -> None:
    """PSNR and SSIM (Y channel, border = scale) against bicubic on the held-out photos."""
    from genlab.services import training

    upscaler, run = training.evaluate_sr(
        model, scale, tile=tile, allow_pickle=allow_pickle, device=device
    )
    with progress_bar(console) as progress:
        task = progress.add_task("evaluating", total=len(training.held_out_photos()))
        scores = run(lambda _: progress.advance(task, 1))
    if as_json:
        report = {
            "model": upscaler.name,
            "scale": scale,
            "metric": "Y channel (BT.601), border crop = scale",
            "photos": [s.to_dict() for s in scores],
        }
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"{shown(upscaler.name)} x{scale} vs bicubic (Y, border {scale})")
    for column in ("photo", "bicubic PSNR", "bicubic SSIM", "PSNR", "SSIM", "gain dB"):
        table.add_column(column, justify="left" if column == "photo" else "right")
    for s in scores:
        table.add_row(
            shown(s.photo),
            f"{s.bicubic_psnr:.2f}",
            f"{s.bicubic_ssim:.4f}",
            f"{s.psnr:.2f}",
            f"{s.ssim:.4f}",
            f"{s.gain_db:+.2f}",
        )
    console.print(table)


@user_errors
def train_sr(
    out: Annotated[Path, Opt("--out", "-o", help="Run folder (checkpoint, weights).")],
    scale: Annotated[int, Opt("--scale", "-s", help="2, 3 or 4.")] = 2,
    steps: Annotated[int, Opt(help="Optimiser steps in total.")] = 3000,
    batch_size: Annotated[int, Opt("--batch-size", "-b")] = 32,
    patch: Annotated[int, Opt(help="LR patch side in pixels.")] = 32,
    lr: Annotated[float, Opt(help="Peak learning rate (cosine decay).")] = 1e-3,
    seed: Annotated[int, Opt()] = 0,
    channels: Annotated[str, Opt(help="y (luma, chroma by bicubic) or rgb.")] = "y",
    resume: Annotated[bool, Opt(help="Continue from a checkpoint in --out.")] = True,
    threads: Annotated[int | None, Opt(help="CPU threads for torch (default: torch's).")] = None,
) -> None:
    """Train genlab's ESPCN on the bundled photos (held-out photos are never used)."""
    from genlab.services import training

    settings = dict(scale=scale, steps=steps, batch_size=batch_size, patch=patch, lr=lr, seed=seed)
    run = training.super_resolution(
        out, threads=threads, resume=resume, channels=channels, **settings
    )
    with progress_bar(console) as progress:
        task = progress.add_task("training", total=steps)

        def on_step(info) -> None:
            progress.update(task, completed=info.step, description=f"training loss {info.loss:.2e}")

        result = run(on_step)
    if result.resumed_from:
        console.print(f"resumed from step {result.resumed_from}")
    console.print(
        f"{shown(result.weights)} ({result.params} parameters, {result.steps} steps, "
        f"{result.seconds:.0f}s)"
    )
