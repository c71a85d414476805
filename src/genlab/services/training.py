"""Training as a user asks for it: a text-to-image model, a refined decoder, the Shapes
World encoder and the super-resolution network; and the SR evaluation on held-out
photos. The CLI's `genlab train …` and `genlab eval sr` call these.

Each checks its output folder and its settings, sets torch's CPU threads when asked,
and returns the run, not yet started: call it with an `on_step` (which gets the
trainer's own step info: stage, step, total, loss). So a bad argument fails before
the CLI draws a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from genlab.services.outputs import check_output_folder

if TYPE_CHECKING:
    from genlab.train.gan import GanTrainResult
    from genlab.train.shapes_encoder import TrainResult as EncoderResult
    from genlab.train.sr import TrainResult as SRTrainResult
    from genlab.train.text2image import TrainResult
    from genlab.upscale.evaluate import Score
    from genlab.upscale.loaders import Upscaler

T = TypeVar("T")
OnStep = Callable[[Any], None] | None
Run = Callable[[OnStep], T]


def set_threads(threads: int | None) -> None:
    """torch's CPU threads, when the user names a number (else torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def text2image(
    data: Path,
    out: Path,
    *,
    arch: str = "small",
    init: str | None = None,
    train: str | None = None,
    resolution: int | None = None,
    threads: int | None = None,
    resume: bool = True,
    stop_after: str | None = None,
    **settings: Any,
) -> Run[TrainResult]:
    """Train a text-to-image pipeline from scratch (`arch`: a preset or a TOML file of
    sizes), or fine-tune `init` (`train`: unet, text_encoder or lora; default lora).
    `settings` are TrainConfig's fields (steps, batch_size, lr, vae_steps, …);
    `stop_after="autoencoder"` ends after stage 1 (see train.text2image.Trainer)."""
    from genlab.train.components import load_architecture
    from genlab.train.text2image import TrainConfig
    from genlab.train.text2image import train as run_training

    check_output_folder(out)
    architecture = load_architecture(arch)
    if resolution is not None and init is None:
        # From scratch the size is part of the architecture; a fine-tune keeps the
        # model's own and only trains at `resolution`.
        architecture = replace(architecture, resolution=resolution)
    config = TrainConfig(
        init=init,
        train=train or ("lora" if init else "all"),
        resolution=resolution if init else None,
        architecture=architecture,
        **settings,
    )
    set_threads(threads)
    return lambda on_step: run_training(
        config, data, out, on_step=on_step, resume=resume, stop_after=stop_after
    )


def decoder(
    model: Path,
    data: Path,
    *,
    threads: int | None = None,
    **settings: Any,
) -> Run[float]:
    """Refine `model`'s autoencoder decoder (encoder frozen); the seconds it took.
    `settings` are DecoderConfig's fields."""
    from genlab.train.decoder import DecoderConfig, refine_decoder

    check_output_folder(model, "--model")  # the refined vae/ is written into it
    config = DecoderConfig(**settings)
    set_threads(threads)
    return lambda on_step: refine_decoder(model, data, config, on_step=on_step)


def shapes_encoder(
    out: Path,
    steps: int,
    batch_size: int,
    seed: int,
    threads: int | None,
) -> Run[EncoderResult]:
    """Train the Shapes World encoder behind the `shapes` feature extractor."""
    from genlab.train.shapes_encoder import train_encoder

    check_output_folder(out)
    return lambda on_step: train_encoder(out, steps, batch_size, seed, threads, on_step)


def super_resolution(
    out: Path,
    *,
    threads: int | None = None,
    resume: bool = True,
    **settings: Any,
) -> Run[SRTrainResult]:
    """Train genlab's ESPCN on the bundled photos; `settings` are its TrainConfig's
    fields (scale, steps, batch_size, patch, lr, seed, channels)."""
    from genlab.train.sr import TrainConfig, train

    check_output_folder(out)
    config = TrainConfig(**settings)
    set_threads(threads)
    return lambda on_step: train(config, out, on_step=on_step, resume=resume)


def held_out_photos() -> tuple[str, ...]:
    """The bundled photos super-resolution never trains on, which `evaluate_sr` scores."""
    from genlab.upscale.data import HELD_OUT

    return tuple(HELD_OUT)


def evaluate_sr(
    model: str,
    scale: int,
    *,
    tile: int = 0,
    allow_pickle: bool = False,
    device: str | None = None,
) -> tuple[Upscaler, Run[list[Score]]]:
    """PSNR and SSIM of `model` against bicubic on the held-out photos: the loaded
    upscaler (for its name), and the run (its `on_step` is told of each photo done),
    which returns one score per photo."""
    from genlab.devices import pick_device
    from genlab.upscale.evaluate import evaluate
    from genlab.upscale.loaders import check_scale, load_upscaler

    check_scale(scale)
    upscaler = load_upscaler(model, scale, allow_pickle=allow_pickle, device=pick_device(device))
    return upscaler, lambda on_photo: evaluate(upscaler, scale, tile=tile, on_photo=on_photo)


def gan(
    data: Path,
    out: Path,
    *,
    threads: int | None = None,
    resume: bool = True,
    **settings: Any,
) -> Run[GanTrainResult]:
    """Train the text-conditional GAN; `settings` are GanTrainConfig's fields (steps,
    batch_size, lr_g, lr_d, r1_gamma, augment, holdout, minutes, …)."""
    from genlab.train.gan import GanTrainConfig
    from genlab.train.gan import train as run_training

    check_output_folder(out)
    config = GanTrainConfig(**settings)
    set_threads(threads)
    return lambda on_step: run_training(config, data, out, on_step=on_step, resume=resume)
