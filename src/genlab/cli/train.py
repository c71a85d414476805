"""`genlab train text2image` — train a text-to-image pipeline, or fine-tune one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar, stage_steps
from genlab.cli.terminal import shown

Opt = typer.Option
console = Console(highlight=False)

DeviceOpt = Annotated[str, Opt(help="auto (cuda, else mps, else cpu), cpu, cuda or mps.")]
VaeNoiseOpt = Annotated[
    float, Opt(help="Latent noise while the autoencoder trains (fraction of spread).")
]
StopAfterOpt = Annotated[
    str | None, Opt(help="autoencoder: stop after stage 1 and write --out/vae, to judge it first.")
]
MinutesOpt = Annotated[
    float | None,
    Opt(help="Wall-clock budget: denoiser steps are lowered (never raised) to end within it."),
]
PrecisionOpt = Annotated[
    str, Opt(help="fp32, or bf16 (autocast on cuda only; weights stay and save fp32).")
]


@user_errors
def text2image(
    data: Annotated[Path, Opt("--data", "-d", help="Captioned image folder.")],
    out: Annotated[Path, Opt("--out", "-o", help="Model folder to write (and resume).")],
    init: Annotated[
        str | None, Opt(help="Fine-tune this pipeline (folder, hub id, checkpoint).")
    ] = None,
    train: Annotated[
        str | None, Opt("--train", help="With --init: unet, text_encoder or lora.")
    ] = None,
    steps: Annotated[int, Opt(help="Denoiser optimiser steps.")] = 2500,
    batch_size: Annotated[int, Opt("--batch-size", "-b")] = 32,
    lr: Annotated[float, Opt(help="Peak learning rate (warm-up, cosine decay).")] = 4e-4,
    vae_steps: Annotated[int, Opt(help="Autoencoder steps (from scratch only).")] = 2000,
    vae_batch_size: Annotated[int, Opt(help="Autoencoder batch size.")] = 64,
    vae_crop: Annotated[
        int, Opt(help="Autoencoder trains on random crops this size (0: whole images).")
    ] = 32,
    vae_noise: VaeNoiseOpt = 0.1,
    arch: Annotated[
        str,
        Opt(help="From scratch: pixel, small or large (docs/models/builtin.md), or a TOML file."),
    ] = "small",
    resolution: Annotated[
        int | None, Opt(help="Training size in pixels (default: 64, or the model's).")
    ] = None,
    lora_rank: Annotated[int, Opt(help="LoRA rank (--train lora).")] = 8,
    sample_every: Annotated[int, Opt(help="Write a sample grid every N steps (0: never).")] = 500,
    checkpoint_every: Annotated[int, Opt(help="Write a checkpoint every N steps.")] = 250,
    limit: Annotated[int | None, Opt(help="Use only the first N images.")] = None,
    seed: Annotated[int, Opt()] = 0,
    resume: Annotated[bool, Opt(help="Continue from a checkpoint in --out.")] = True,
    stop_after: StopAfterOpt = None,
    threads: Annotated[int | None, Opt(help="CPU threads for torch (default: torch's).")] = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    minutes: MinutesOpt = None,
) -> None:
    """Train a text-to-image model on a captioned image folder.

    From scratch it trains a tokenizer, CLIP text encoder, autoencoder and UNet
    (v-prediction or flow matching, as --arch says); with --init it fine-tunes an
    existing pipeline. The result loads with plain diffusers
    (StableDiffusionPipeline.from_pretrained) and with genlab generate."""
    from genlab.services import training

    settings = dict(steps=steps, batch_size=batch_size, lr=lr, lora_rank=lora_rank, seed=seed)
    settings["minutes"] = minutes
    vae = dict(
        vae_steps=vae_steps, vae_batch_size=vae_batch_size, vae_crop=vae_crop, vae_noise=vae_noise
    )
    every = dict(sample_every=sample_every, checkpoint_every=checkpoint_every)
    where = dict(arch=arch, init=init, train=train, resolution=resolution, limit=limit)
    machine = dict(threads=threads, resume=resume, device=device, precision=precision)
    machine["stop_after"] = stop_after
    run = training.text2image(data, out, **settings, **vae, **every, **where, **machine)
    with progress_bar(console) as progress:
        result = run(stage_steps(progress, console))
    _summary(result, stop_after)


def _summary(result, stop_after: str | None) -> None:
    if result.resumed_from:
        console.print(f"resumed from {shown(result.resumed_from)}")
    done = "autoencoder only (vae/)" if stop_after == "autoencoder" else f"{result.steps} steps"
    console.print(
        f"{shown(result.out)}: {result.images} images, {done}, "
        f"{result.seconds / 60:.1f} min on {result.device}"
    )
    if result.samples:
        console.print(f"sample grids: {shown(result.samples[-1].parent)}")


@user_errors
def decoder(
    model: Annotated[Path, Opt("--model", "-m", help="Pipeline folder whose vae/ to refine.")],
    data: Annotated[Path, Opt("--data", "-d", help="Captioned image folder.")],
    steps: Annotated[int, Opt(help="Decoder optimiser steps.")] = 1500,
    batch_size: Annotated[int, Opt("--batch-size", "-b")] = 32,
    lr: Annotated[float, Opt(help="Peak learning rate (cosine decay).")] = 3e-4,
    resolution: Annotated[
        int | None, Opt(help="Training size in pixels (default: the model's).")
    ] = None,
    limit: Annotated[int | None, Opt(help="Use only the first N images.")] = None,
    seed: Annotated[int, Opt()] = 0,
    threads: Annotated[int | None, Opt(help="CPU threads for torch (default: torch's).")] = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
) -> None:
    """Refine a pipeline's autoencoder decoder with the encoder frozen (sharper images).

    The latent space does not change, so the pipeline's denoiser stays valid; the
    refined vae/ replaces the old one when the run ends. Re-running resumes."""
    from genlab.services import training

    settings = dict(steps=steps, batch_size=batch_size, lr=lr, resolution=resolution, limit=limit)
    machine = dict(seed=seed, device=device, precision=precision)
    run = training.decoder(model, data, threads=threads, **settings, **machine)
    with progress_bar(console) as progress:
        task = progress.add_task("decoder", total=steps)

        def on_step(info) -> None:
            progress.update(task, completed=info.step, description=f"decoder loss {info.loss:.4f}")
            if not console.is_terminal and info.step % 50 == 0:
                console.print(f"decoder step {info.step}/{info.total} loss {info.loss:.4f}")

        seconds = run(on_step)
    console.print(f"{shown(model)}/vae: decoder refined, {steps} steps, {seconds / 60:.1f} min")
