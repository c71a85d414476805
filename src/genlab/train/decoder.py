"""Refine a pipeline's autoencoder decoder with its encoder frozen.

The same move as Stable Diffusion's "ft-MSE" VAE: only the decoder (and the
post-quantisation conv) learns, so the latent space, and with it the denoiser trained
on it, stays valid. It pays off when the autoencoder was trained briefly or on crops:
genlab's first built-in model turned stars into blobs on the way back to pixels, which
no amount of denoiser training could fix.

Latents are drawn from the frozen encoder's posterior (`latent_dist.sample()`), so the
decoder learns to tolerate the same small errors as in the first training. The loss
is L1 + MSE on pixels plus L1 on horizontal and vertical pixel differences, which
rewards sharp edges that a pixel loss alone leaves soft.

The run keeps a checkpoint in MODEL/checkpoint/decoder.pt and resumes from it; the
refined autoencoder replaces MODEL/vae only at the end (written beside it, then
swapped), and MODEL/training.json records the refinement. `device` and `precision`
work as in text2image (device.py): random draws stay on the CPU, the refined
autoencoder is saved fp32 from the CPU, and a checkpoint resumes on any device.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.devices import autocast, check_names, describe, resolve_device
from genlab.train import checkpoint as ckpt
from genlab.train.data import load_captioned_images

CHECKPOINT = "decoder.pt"


@dataclass(frozen=True)
class DecoderConfig:
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    grad_clip: float = 1.0
    checkpoint_every: int = 250
    seed: int = 0
    limit: int | None = None  # use only the first N images
    resolution: int | None = None  # default: the size the pipeline generates
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "fp32"  # fp32 | bf16 (autocast, CUDA only)

    def __post_init__(self) -> None:
        check_names(self.device, self.precision)
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InvalidRequest(name, getattr(self, name), "must be a positive integer")
        if not 0 < self.lr < 1:
            raise InvalidRequest("lr", self.lr, "must be in (0, 1)")
        res = self.resolution
        if res is not None and (res % 8 or not 8 <= res <= 2048):
            raise InvalidRequest("resolution", res, "must be a multiple of 8 from 8 to 2048")


@dataclass(frozen=True)
class DecoderStep:
    step: int
    total: int
    loss: float


def refine_decoder(
    model: Path,
    data: Path,
    config: DecoderConfig,
    *,
    on_step: Callable[[DecoderStep], None] | None = None,
) -> float:
    """Refine MODEL/vae's decoder on the images of `data`; returns seconds spent."""
    from diffusers import AutoencoderKL

    device = resolve_device(config.device, config.precision)
    model = Path(model)
    if not (model / "vae" / "config.json").is_file():
        raise GenlabError(f"{model} is not a pipeline folder with a vae/ (diffusers layout)")
    torch.set_flush_denormal(True)  # see text2image.Trainer.run
    vae = AutoencoderKL.from_pretrained(str(model / "vae"))
    resolution = config.resolution or _model_resolution(model, vae)
    images = load_captioned_images(data, resolution, limit=config.limit).images
    vae.to(device)
    learned = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    vae.requires_grad_(False)
    for p in learned:
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(learned, lr=config.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)
    path = ckpt.folder(model) / CHECKPOINT
    start, seconds = 0, 0.0
    if path.is_file():
        state = torch.load(path, weights_only=False, map_location="cpu")
        if state["config"] != _resumable(config) or state["data"] != str(Path(data).resolve()):
            raise GenlabError(
                f"{path} is a refinement with other settings or data; delete it to start over"
            )
        vae.load_state_dict(state["vae"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        start, seconds = state["step"], state["seconds"]
    started = time.perf_counter()
    vae.train()
    for step in range(start, config.steps):
        for group in optimiser.param_groups:  # cosine to a tenth, as the first training
            group["lr"] = config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / config.steps)))
        index = torch.randint(len(images), (config.batch_size,), generator=generator)
        x = images[index].to(device).float() / 127.5 - 1
        with autocast(device, config.precision):
            with torch.no_grad():
                # Draws its noise from the CPU generator and moves it (diffusers' rule).
                latents = vae.encode(x).latent_dist.sample(generator)
            recon = vae.decode(latents).sample
        loss = reconstruction_loss(recon.float(), x)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(learned, config.grad_clip)
        optimiser.step()
        if on_step is not None:
            on_step(DecoderStep(step + 1, config.steps, loss.item()))
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            state = {
                "config": _resumable(config),
                "data": str(Path(data).resolve()),
                "vae": vae.state_dict(),
                "optimiser": optimiser.state_dict(),
                "generator": generator.get_state(),
                "step": step + 1,
                "seconds": seconds + time.perf_counter() - started,
            }
            ckpt.atomic_save(state, path)
    seconds += time.perf_counter() - started
    vae.eval()
    _replace_vae(model, vae.to("cpu"))  # fp32 weights, saved from the CPU
    _record(model, data, config, seconds, describe(device))
    path.unlink(missing_ok=True)
    return seconds


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 + MSE on pixels + L1 on neighbouring-pixel differences (edge sharpness)."""
    diff = recon - target
    dx = (recon[..., :, 1:] - recon[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (recon[..., 1:, :] - recon[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return diff.abs().mean() + F.mse_loss(recon, target) + dx.abs().mean() + dy.abs().mean()


def _model_resolution(model: Path, vae) -> int:
    """The pipeline's own image size: its UNet's latent size times the VAE's factor."""
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    unet_config = model / "unet" / "config.json"
    if unet_config.is_file():
        sample = json.loads(unet_config.read_text()).get("sample_size")
        if isinstance(sample, int):
            return sample * factor
    return int(vae.config.sample_size)


def _resumable(config: DecoderConfig) -> dict:
    # The step count may grow and the device change between runs; the rest must match.
    free = ("steps", "checkpoint_every", "device", "precision")
    return {k: v for k, v in asdict(config).items() if k not in free}


def _replace_vae(model: Path, vae) -> None:
    fresh, old = model / "vae.refined.tmp", model / "vae.previous.tmp"
    shutil.rmtree(fresh, ignore_errors=True)
    vae.save_pretrained(str(fresh))
    shutil.rmtree(old, ignore_errors=True)
    os.replace(model / "vae", old)
    os.replace(fresh, model / "vae")
    shutil.rmtree(old, ignore_errors=True)


def _record(model: Path, data: Path, config: DecoderConfig, seconds: float, device: str) -> None:
    record_path = model / "training.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    record.setdefault("decoder_refinements", []).append(
        {
            "config": asdict(config),
            "data": Path(data).name,
            "seconds": round(seconds, 1),
            "torch_threads": torch.get_num_threads(),
            "device": device,
        }
    )
    tmp = record_path.with_name(record_path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, record_path)
