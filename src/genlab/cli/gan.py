"""`genlab train gan` and `genlab gan walk` — train a text-conditional GAN, walk its latents."""

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
app = typer.Typer(help="GAN tools: latent walks.", no_args_is_help=True)


@user_errors
def train(
    data: Annotated[Path, Opt("--data", "-d", help="Captioned image folder.")],
    out: Annotated[Path, Opt("--out", "-o", help="Model folder to write (and resume).")],
    steps: Annotated[int, Opt(help="Optimiser steps (generator and discriminator each).")] = 4000,
    batch_size: Annotated[int, Opt("--batch-size", "-b")] = 16,
    lr_g: Annotated[float, Opt(help="Generator learning rate (Adam, betas 0, 0.99).")] = 2e-4,
    lr_d: Annotated[float, Opt(help="Discriminator learning rate.")] = 2e-4,
    r1_gamma: Annotated[float, Opt(help="R1 penalty weight (0: off), applied lazily.")] = 0.2,
    augment: Annotated[str, Opt(help="DiffAugment: translation, cutout, both or none.")] = (
        "translation"
    ),
    holdout: Annotated[
        int, Opt(help="Last N images: not trained on; the watch's reference.")
    ] = 500,
    limit: Annotated[int | None, Opt(help="Use only the first N images.")] = None,
    sample_every: Annotated[int, Opt(help="Write a sample grid every N steps.")] = 250,
    checkpoint_every: Annotated[int, Opt(help="Write a checkpoint every N steps.")] = 250,
    watch_every: Annotated[int, Opt(help="Measure diversity and recall every N steps.")] = 500,
    minutes: Annotated[float | None, Opt(help="Stop and save after this much time.")] = None,
    seed: Annotated[int, Opt()] = 0,
    resume: Annotated[bool, Opt(help="Continue from a checkpoint in --out.")] = True,
    threads: Annotated[int | None, Opt(help="CPU threads for torch (default: torch's).")] = None,
) -> None:
    """Train a text-conditional GAN (hinge loss, spectral norm, projection discriminator,
    R1, DiffAugment, EMA generator) on a captioned image folder.

    Every --watch-every steps it measures diversity across seeds and recall against the
    held-out images, and warns when diversity falls towards mode collapse. The result
    is a model folder for `genlab generate --model FOLDER`."""
    from genlab.services import training

    policy = {"none": (), "both": ("translation", "cutout")}.get(augment, tuple(augment.split(",")))
    settings = dict(steps=steps, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, r1_gamma=r1_gamma)
    every = dict(sample_every=sample_every, checkpoint_every=checkpoint_every)
    every["watch_every"] = watch_every
    where = dict(augment=policy, holdout=holdout, limit=limit, minutes=minutes, seed=seed)
    run = training.gan(data, out, threads=threads, resume=resume, **settings, **every, **where)
    with progress_bar(console) as progress:
        task = progress.add_task("gan", total=steps)

        def on_step(info) -> None:
            losses = f"D {info.loss:.3f} G {info.loss_g:.3f}"
            progress.update(task, completed=info.step, description=f"gan {losses}")
            if info.watch:
                console.print(f"step {info.step}: {_watch_line(info.watch)}")
            elif not console.is_terminal and info.step % 50 == 0:
                console.print(f"gan step {info.step}/{info.total} {losses}")

        result = run(on_step)
    if result.resumed_from:
        console.print(f"resumed from step {result.resumed_from}")
    console.print(f"{shown(result.out)}: {result.steps} steps, {result.seconds / 60:.1f} min")
    if result.samples:
        console.print(f"sample grids: {shown(result.samples[-1].parent)}")


def _watch_line(watch: dict) -> str:
    from genlab.services.gan import DIVERSITY_WARNING

    line = (
        f"diversity {watch['diversity']:.2f} precision {watch['precision']:.2f} "
        f"recall {watch['recall']:.2f}"
    )
    if watch["diversity"] < DIVERSITY_WARNING:
        line += f" [yellow]warning: diversity below {DIVERSITY_WARNING} (mode collapse?)[/]"
    return line


@app.command("walk")
@user_errors
def walk(
    prompt: Annotated[str, typer.Argument(help="Caption to draw.")],
    seed_from: Annotated[int, Opt("--from", help="Seed the walk starts at.")],
    seed_to: Annotated[int, Opt("--to", help="Seed the walk ends at.")],
    frames: Annotated[int, Opt(help="Frames, ends included.")] = 24,
    to_prompt: Annotated[
        str | None, Opt("--to-prompt", help="Caption to arrive at (moves with the seed).")
    ] = None,
    truncation: Annotated[float, Opt(help="Truncation psi in (0, 1].")] = 1.0,
    model: Annotated[str, Opt("--model", "-m", help="gan, or a GAN model folder.")] = "gan",
    out: Annotated[Path, Opt("--out", "-o", help="Folder for frames and animation.")] = Path(
        "walk"
    ),
    image_format: Annotated[str, Opt("--format", help="Animation: webp or gif.")] = "webp",
    device: Annotated[str | None, Opt(help="cuda, mps or cpu (default: best).")] = None,
) -> None:
    """Walk a GAN's latent space from one seed to another (spherical interpolation),
    optionally from one caption to another, writing PNG frames and an animation."""
    from genlab.services.gan import walk as run_walk

    result = run_walk(
        prompt,
        out,
        seed_from=seed_from,
        seed_to=seed_to,
        frames=frames,
        to_prompt=to_prompt,
        truncation=truncation,
        model=model,
        fmt=image_format,
        device=device,
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {shown(warning)}")
    console.print(
        f"{len(result.frames)} frames in {shown(out)}; animation {shown(result.animation)}"
    )
