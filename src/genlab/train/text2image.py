"""`genlab train text2image`: train a text-to-image pipeline from scratch, or fine-tune one.

From scratch (no `init`), in two stages on the same captioned images:
1. the autoencoder (L1 reconstruction + a small KL term), then every image is encoded
   once and the latents cached (the diffusion stage never runs the encoder again);
2. the text encoder and UNet together, flow matching (see objective.py), captions
   dropped to "" 10% of the time so classifier-free guidance works, AdamW with
   warm-up and cosine decay, gradient clipping, and an EMA of the weights.
With `init`, an existing pipeline is fine-tuned: its UNet, its text encoder, or LoRA
adapters on the UNet's attention, with the model's own prediction type.

A checkpoint (weights, EMA, optimiser, random state, step) is written every
`checkpoint_every` steps and at stage ends, atomically; running again with the same
`out` continues from it. The result is a plain diffusers folder (or, for LoRA, a
`pytorch_lora_weights.safetensors` that `genlab generate --lora` and diffusers load).

`device` picks where the arithmetic runs (see device.py: random draws stay on the CPU,
so CPU runs are unchanged and checkpoints resume on any device); the saved pipeline
is fp32 on the CPU whatever trained it.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.devices import autocast, check_names, describe, resolve_device
from genlab.train import checkpoint as ckpt
from genlab.train.components import (
    WORDS_FILE,
    Architecture,
    assemble_pipeline,
    build_scheduler,
    build_text_encoder,
    build_tokenizer,
    build_unet,
    build_vae,
    caption_words,
)
from genlab.train.data import load_captioned_images
from genlab.train.ema import EMA
from genlab.train.objective import Objective
from genlab.train.sampling import sample_grid

log = logging.getLogger(__name__)

TRAIN_PARTS = ("all", "unet", "text_encoder", "lora")
# Denoiser steps timed before a `minutes` budget sets the step count: the first few
# (allocator and kernel warm-up) are left out of the timing.
BUDGET_PROBE = (10, 50)
# Seconds a budgeted run keeps back for what follows the last step (save, samples).
BUDGET_RESERVE = 30.0
STAGES = ("autoencoder", "diffusion")
SAMPLE_PROMPTS = (
    "a red circle",
    "a large blue square",
    "two green stars",
    "a yellow heart left of a purple hexagon",
    "a small white triangle above a black square",
    "an orange circle on a cyan background at sunset",
    "three pink hearts, watercolour",
    "a brown star below a grey circle, outlined",
)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2500
    batch_size: int = 32
    lr: float = 4e-4
    warmup: int = 200
    min_lr_ratio: float = 0.1  # cosine decay ends at lr × this
    vae_steps: int = 2000
    vae_batch_size: int = 64
    vae_lr: float = 1e-3
    vae_crop: int = 32  # autoencoder trains on random crops this size (0: whole images)
    # Noise added to the latents while the autoencoder trains, as a fraction of their
    # spread: the decoder learns to forgive a denoiser's small errors, at some cost in
    # sharpness. 0.1 for the small design; less where latents keep every pixel.
    vae_noise: float = 0.1
    caption_dropout: float = 0.1
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 250
    sample_every: int = 500
    sample_steps: int = 15
    sample_prompts: tuple[str, ...] = SAMPLE_PROMPTS
    init: str | None = None
    train: str = "all"
    lora_rank: int = 8
    resolution: int | None = None  # fine-tuning: default is the model's own size
    limit: int | None = None  # use only the first N images
    architecture: Architecture = field(default_factory=Architecture)
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "fp32"  # fp32 | bf16 (autocast, CUDA only)
    # Wall-clock budget for the whole command, in minutes: once the denoiser's speed
    # is measured (BUDGET_PROBE steps), `steps` is lowered (never raised) so the
    # cosine schedule still ends, with its decay, inside the budget.
    minutes: float | None = None

    def __post_init__(self) -> None:
        check_names(self.device, self.precision)
        for name in ("steps", "batch_size", "vae_batch_size", "checkpoint_every", "lora_rank"):
            if getattr(self, name) < 1:
                raise InvalidRequest(name, getattr(self, name), "must be a positive integer")
        for name in ("vae_steps", "warmup", "sample_every", "sample_steps", "vae_crop"):
            if getattr(self, name) < 0:
                raise InvalidRequest(name, getattr(self, name), "must be 0 or more")
        if not 0 < self.lr < 1 or not 0 < self.vae_lr < 1:
            raise InvalidRequest("lr", self.lr, "must be in (0, 1)")
        if not 0 <= self.vae_noise < 1:
            raise InvalidRequest("vae_noise", self.vae_noise, "must be in [0, 1)")
        if not 0 <= self.caption_dropout < 1:
            raise InvalidRequest("caption_dropout", self.caption_dropout, "must be in [0, 1)")
        if not 0 <= self.ema_decay < 1:
            raise InvalidRequest("ema_decay", self.ema_decay, "must be in [0, 1)")
        if self.train not in TRAIN_PARTS:
            raise InvalidRequest("train", self.train, f"must be one of {', '.join(TRAIN_PARTS)}")
        if self.init is None and self.train != "all":
            raise InvalidRequest("train", self.train, "needs --init MODEL (from scratch: all)")
        if self.init is not None and self.train == "all":
            raise InvalidRequest("train", self.train, "with --init: unet, text_encoder or lora")
        if self.init is not None and self.architecture != Architecture():
            raise InvalidRequest(
                "arch", "custom", "is for training from scratch; --init keeps the model's own"
            )
        if self.minutes is not None and not 0 < self.minutes <= 10**6:
            raise InvalidRequest("minutes", self.minutes, "must be more than 0 and at most 10**6")
        res = self.resolution
        if res is not None and (res % 8 or not 8 <= res <= 2048):
            raise InvalidRequest("resolution", res, "must be a multiple of 8 from 8 to 2048")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sample_prompts"] = list(self.sample_prompts)
        data["architecture"] = self.architecture.to_dict()
        return data

    def learning_rate(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = min((step - self.warmup) / max(self.steps - self.warmup, 1), 1.0)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * cosine)


@dataclass(frozen=True)
class StepInfo:
    stage: str  # "autoencoder" | "diffusion"
    step: int
    total: int
    loss: float


@dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    seconds: float
    resumed_from: str | None
    images: int
    samples: list[Path]
    device: str = "cpu"  # where the arithmetic ran, e.g. "cuda (NVIDIA H100 80GB HBM3)"


class Trainer:
    """One training run in `out`; `run()` trains (or resumes) to the end."""

    def __init__(
        self,
        config: TrainConfig,
        data_dir: Path,
        out: Path,
        *,
        on_step: Callable[[StepInfo], None] | None = None,
        resume: bool = True,
        stop_after: str | None = None,
    ):
        if stop_after not in (None, *STAGES):
            raise InvalidRequest("stop_after", stop_after, f"must be {' or '.join(STAGES)}")
        self.config, self.data_dir, self.out = config, Path(data_dir), Path(out)
        self.stop_after = stop_after
        self.on_step = on_step or (lambda info: None)
        self.resume = resume
        self.generator = torch.Generator().manual_seed(config.seed)
        self.samples: list[Path] = []
        self.seconds = 0.0
        self.losses: list[tuple[str, int, float]] = []

    # -- set-up --------------------------------------------------------------------
    def run(self) -> TrainResult:
        # Tiny gradients and Adam moments become denormal floats, which x86 CPUs
        # process ~100x slower; flushing them to zero changes nothing measurable.
        torch.set_flush_denormal(True)
        self.device = resolve_device(self.config.device, self.config.precision)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        self.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if self.config.init:
            self._load_init()
        else:
            self.resolution = self.config.architecture.resolution
        self.data = load_captioned_images(self.data_dir, self.resolution, limit=self.config.limit)
        self.fingerprint = ckpt.data_fingerprint(self.data.captions)
        state = None
        if self.resume:
            state = ckpt.load(
                self.out,
                self.config.to_dict(),
                self.data_dir,
                self.fingerprint,
                defaults=TrainConfig().to_dict(),
            )
        else:
            ckpt.discard(self.out)
        resumed_from = None if state is None else f"{state['stage']} step {state['step']}"
        self.seconds = state["seconds"] if state else 0.0
        self.losses = [tuple(x) for x in state["losses"]] if state else []
        self._started = started
        if not self.config.init:
            self._build_fresh()
        log.info("%d captioned images from %s", len(self.data), self.data_dir)
        for model in (self.vae, self.text_encoder, self.unet):
            model.to(self.device)
        if state is not None and state.get("vae") is not None:
            self.vae.load_state_dict(state["vae"])
            self.vae.register_to_config(scaling_factor=state["scaling_factor"])
        if self.config.init is None and (state is None or state["stage"] == "autoencoder"):
            self._train_autoencoder(state)
            state = None
            if self.stop_after == "autoencoder":
                return self._save_autoencoder(resumed_from)
        self._train_diffusion(state)
        self._save_result()
        return TrainResult(
            self.out,
            self.config.steps,
            self._elapsed(),
            resumed_from,
            len(self.data),
            self.samples,
            describe(self.device),
        )

    def _elapsed(self) -> float:
        return self.seconds + time.perf_counter() - self._started

    def _build_fresh(self) -> None:
        arch = self.config.architecture
        torch.manual_seed(self.config.seed)
        tokenizer_dir = ckpt.folder(self.out) / "tokenizer"
        if (tokenizer_dir / "vocab.json").is_file():
            from transformers import CLIPTokenizer

            self.tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir))
        else:
            words = caption_words(self.data.captions)
            self.tokenizer = build_tokenizer(tokenizer_dir, words, arch.max_tokens)
        self.text_encoder = build_text_encoder(arch, self.tokenizer)
        self.vae = build_vae(arch)
        self.unet = build_unet(arch)
        self.scheduler = build_scheduler(arch)
        self.trained = {"text_encoder": self.text_encoder, "unet": self.unet}

    def _load_init(self) -> None:
        from genlab.train.init import load_init_pipeline

        pipe = load_init_pipeline(self.config.init)
        self.tokenizer, self.text_encoder = pipe.tokenizer, pipe.text_encoder
        self.vae, self.unet, self.scheduler = pipe.vae, pipe.unet, pipe.scheduler
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.resolution = self.config.resolution or int(self.unet.config.sample_size) * factor
        self.vae.requires_grad_(False)
        part = self.config.train
        if part == "lora":
            from peft import LoraConfig

            self.unet.requires_grad_(False)
            rank = self.config.lora_rank
            self.unet.add_adapter(
                LoraConfig(
                    r=rank,
                    lora_alpha=rank,
                    init_lora_weights="gaussian",
                    target_modules=["to_k", "to_q", "to_v", "to_out.0"],
                )
            )
            self.trained = {"unet": self.unet}
            self.text_encoder.requires_grad_(False)
        else:
            other = self.text_encoder if part == "unet" else self.unet
            other.requires_grad_(False)
            self.trained = {part: getattr(self, part)}

    # -- stage 1: the autoencoder --------------------------------------------------
    def _train_autoencoder(self, state: dict | None) -> None:
        """Reconstruction (L1 + MSE) on random crops; the latent gets fixed small noise.

        Crops: the autoencoder is convolutional (its attention is position-free), so
        32 px crops teach it edges and colours at a quarter of the cost per image.
        Fixed noise instead of a learned posterior variance: a learned variance starts
        at 1 and takes thousands of steps to shrink, blurring everything until then;
        a fixed 10% of the latent spread keeps the decoder tolerant of the small
        errors a denoiser makes. The posterior's log-variance is set to that noise at
        the end, so `latent_dist.sample()` (img2img) draws what the decoder expects.
        """
        config = self.config
        vae = self.vae
        vae.train()
        optimiser = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
        start = 0
        if state is not None:
            optimiser.load_state_dict(state["optimiser"])
            self.generator.set_state(state["generator"])
            start = state["step"]
        images = self.data.images
        side = images.shape[-1]
        crop = min(config.vae_crop or side, side)
        for step in range(start, config.vae_steps):
            progress = step / max(config.vae_steps, 1)
            for group in optimiser.param_groups:
                group["lr"] = config.vae_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
            index = torch.randint(len(images), (config.vae_batch_size,), generator=self.generator)
            top, left = torch.randint(0, side - crop + 1, (2,), generator=self.generator).tolist()
            x = self._batch(images[index, :, top : top + crop, left : left + crop])
            with self._autocast():
                mean = vae.encode(x).latent_dist.mean
                noise = self._noise(mean.shape)
                recon = vae.decode(mean + config.vae_noise * mean.detach().std() * noise).sample
            recon = recon.float()
            loss = F.l1_loss(recon, x) + F.mse_loss(recon, x)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), config.grad_clip)
            optimiser.step()
            self._report("autoencoder", step + 1, config.vae_steps, loss.item())
            last = step + 1 == config.vae_steps
            if (step + 1) % config.checkpoint_every == 0 or last:
                self._checkpoint("autoencoder", step + 1, {}, optimiser, None)
        vae.eval()

    # -- stage 2: denoiser (and text encoder) ---------------------------------------
    @torch.no_grad()
    def _encode_latents(self) -> torch.Tensor:
        cache = ckpt.folder(self.out) / "latents.pt"
        if cache.is_file():
            latents = torch.load(cache, weights_only=True, map_location="cpu")
            if latents.shape[0] == len(self.data):
                return latents
        self.vae.eval()
        chunks = []
        for start in range(0, len(self.data), 256):
            x = self._batch(self.data.images[start : start + 256])
            # fp32 even under --precision bf16: these latents are the training targets.
            chunks.append(self.vae.encode(x).latent_dist.mean.cpu())
        latents = torch.cat(chunks)  # on the CPU: the cache file resumes on any device
        if self.config.init is None:
            # Unit variance latents: the scheduler's noise assumes it.
            self.vae.register_to_config(scaling_factor=float(1 / latents.std()))
            _pin_posterior_noise(self.vae, self.config.vae_noise * float(latents.std()))
        ckpt.atomic_save(latents, cache)
        return latents

    def _train_diffusion(self, state: dict | None) -> None:
        config = self.config
        latents = self._encode_latents() * self.vae.config.scaling_factor
        objective = Objective(self.scheduler.config)
        params = {
            f"{name}.{key}": p
            for name, model in self.trained.items()
            for key, p in model.named_parameters()
            if p.requires_grad
        }
        optimiser = torch.optim.AdamW(params.values(), lr=config.lr, weight_decay=0.01)
        ema = EMA(params, config.ema_decay)
        start = 0
        if state is not None:
            for name, model in self.trained.items():
                model.load_state_dict(state["models"][name], strict=False)
            optimiser.load_state_dict(state["optimiser"])
            ema.load_state_dict(state["ema"])
            self.generator.set_state(state["generator"])
            start = state["step"]
            # By name: the run folder may have been moved or copied since.
            self.samples = [self.out / "samples" / Path(p).name for p in state.get("samples", [])]
        self.ema = ema
        for model in self.trained.values():
            model.train()
        empty = self._token_ids([""])
        caption_ids = self._token_ids(self.data.captions)
        if self.device.type != "cpu":
            # On an accelerator the whole latent cache lives there: gathering a batch
            # on the CPU and copying it over each step starved the GPU.
            latents, caption_ids, empty = (t.to(self.device) for t in (latents, caption_ids, empty))
        probe = None
        step = start
        while step < config.steps:
            for group in optimiser.param_groups:
                group["lr"] = config.learning_rate(step)
            index = torch.randint(len(latents), (config.batch_size,), generator=self.generator)
            drop = torch.rand(config.batch_size, generator=self.generator) < config.caption_dropout
            index, drop = index.to(latents.device), drop.to(latents.device)
            ids = caption_ids[index].clone()
            ids[drop] = empty
            x0 = latents[index]
            noise = self._noise(x0.shape)
            noisy, timesteps, target = objective.corrupt(x0, noise, self.generator)
            with self._autocast():
                context = self.text_encoder(ids.to(self.device))[0]
                prediction = self.unet(noisy, timesteps, context).sample
            loss = F.mse_loss(prediction.float(), target.float())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), config.grad_clip)
            optimiser.step()
            ema.update()
            done = step = step + 1
            self._report("diffusion", done, config.steps, loss.item())
            if config.minutes is not None and done - start in BUDGET_PROBE:
                if done - start == BUDGET_PROBE[0]:
                    probe = time.perf_counter()
                else:
                    config = self._fit_budget(done, (time.perf_counter() - probe) / 40)
            if config.sample_every and (done % config.sample_every == 0 or done == config.steps):
                self._sample(done)
            if done % config.checkpoint_every == 0 or done == config.steps:
                self._checkpoint("diffusion", done, self.trained, optimiser, ema)

    def _fit_budget(self, done: int, seconds_per_step: float) -> TrainConfig:
        """Lower `steps` so the rest of the run ends inside `minutes`; the new count is
        the config from here on (and in checkpoints and training.json)."""
        config = self.config
        left = config.minutes * 60 - (time.perf_counter() - self._started) - BUDGET_RESERVE
        fits = budget_steps(done, config.steps, seconds_per_step, left)
        if fits < config.steps:
            log.warning(
                "%.3f s a step: %d denoiser steps fit in --minutes %g (not %d)",
                seconds_per_step,
                fits,
                config.minutes,
                config.steps,
            )
            self.config = config = replace(config, steps=fits)
        return config

    def _batch(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (on the CPU) → floats in [-1, 1] on the training device."""
        return images.to(self.device).float() / 127.5 - 1

    def _noise(self, shape: torch.Size) -> torch.Tensor:
        """Gaussian noise from the run's CPU generator, moved to the device.

        On an accelerator the CPU generator draws only a seed and the noise is drawn
        there: the state that resumes a run is still the CPU generator's alone."""
        if self.device.type == "cpu":
            return torch.randn(shape, generator=self.generator)
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        local = torch.Generator(device=self.device).manual_seed(seed)
        return torch.randn(shape, generator=local, device=self.device)

    def _autocast(self):
        return autocast(self.device, self.config.precision)

    def _token_ids(self, captions: list[str]) -> torch.Tensor:
        return self.tokenizer(
            captions,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids

    # -- outputs ---------------------------------------------------------------------
    def _pipeline(self):
        return assemble_pipeline(
            self.vae, self.text_encoder, self.tokenizer, self.unet, self.scheduler
        )

    def _sample(self, step: int) -> None:
        path = self.out / "samples" / f"step-{step:06d}.png"
        for model in self.trained.values():
            model.eval()
        with self.ema.applied():
            grid = sample_grid(
                self._pipeline(),
                self.config.sample_prompts,
                steps=self.config.sample_steps,
                seed=self.config.seed,
                size=self.resolution,
            )
        for model in self.trained.values():
            model.train()
        path.parent.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_image(grid, path)
        self.samples.append(path)

    def _checkpoint(self, stage, step, models, optimiser, ema) -> None:
        ckpt.save(
            self.out,
            {
                "config": self.config.to_dict(),
                "data": str(self.data_dir.resolve()),
                "data_fingerprint": self.fingerprint,
                "stage": stage,
                "step": step,
                "models": {name: _trainable_state(m) for name, m in models.items()},
                "optimiser": optimiser.state_dict(),
                "ema": ema.state_dict() if ema else None,
                "generator": self.generator.get_state(),
                "scaling_factor": float(self.vae.config.scaling_factor),
                "vae": self.vae.state_dict() if self.config.init is None else None,
                "seconds": self._elapsed(),
                "losses": self.losses[-20000:],
                "samples": [str(p) for p in self.samples],
            },
        )

    def _report(self, stage: str, step: int, total: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise GenlabError(
                f"training diverged at {stage} step {step} (loss {loss}); "
                "lower --lr and train again into a new --out"
            )
        self.losses.append((stage, step, loss))
        self.on_step(StepInfo(stage, step, total, loss))

    def _save_autoencoder(self, resumed_from: str | None) -> TrainResult:
        """After `stop_after="autoencoder"`: the autoencoder alone, as a diffusers
        folder (`out/vae`), so its round trip can be judged before any denoiser is
        trained on it. Running again without the stop continues into stage 2."""
        self.vae.to("cpu").save_pretrained(str(self.out / "vae"), safe_serialization=True)
        self.vae.to(self.device)
        return TrainResult(
            self.out,
            0,
            self._elapsed(),
            resumed_from,
            len(self.data),
            [],
            describe(self.device),
        )

    def _save_result(self) -> None:
        # Saved pipelines are fp32 on the CPU, whatever device trained them.
        for model in (self.vae, self.text_encoder, self.unet):
            model.to("cpu")
        for model in self.trained.values():
            model.eval()
        with self.ema.applied():
            if self.config.train == "lora":
                _save_lora(self.unet, self.out)
            else:
                self._pipeline().save_pretrained(str(self.out), safe_serialization=True)
                # The word list, and the classic vocab/merges pair that transformers'
                # fast tokenizer does not write but older CLIPTokenizers need.
                for name in (WORDS_FILE, "vocab.json", "merges.txt"):
                    source = ckpt.folder(self.out) / "tokenizer" / name
                    if source.is_file():
                        shutil.copyfile(source, self.out / "tokenizer" / name)
        record = {
            "config": self.config.to_dict(),
            "data": str(self.data_dir),
            "images": len(self.data),
            "seconds": round(self._elapsed(), 1),
            "hardware": {**_hardware(), "device": describe(self.device)},
            "final_loss": _mean_tail(self.losses, "diffusion"),
            "samples": [f"samples/{p.name}" for p in self.samples],
        }
        (self.out / "training.json").write_text(json.dumps(record, indent=2))


def train(
    config: TrainConfig,
    data_dir: Path,
    out: Path,
    *,
    on_step: Callable[[StepInfo], None] | None = None,
    resume: bool = True,
    stop_after: str | None = None,
) -> TrainResult:
    """Train (or resume) into `out`; see the module docstring."""
    trainer = Trainer(config, data_dir, out, on_step=on_step, resume=resume, stop_after=stop_after)
    return trainer.run()


def budget_steps(done: int, steps: int, seconds_per_step: float, seconds_left: float) -> int:
    """The step count that ends a run within `seconds_left`: at least `done` (no step
    is undone), at most `steps` (a budget never lengthens a run)."""
    fits = done + max(int(seconds_left / max(seconds_per_step, 1e-9)), 0)
    return max(done, min(steps, fits))


def _trainable_state(model) -> dict:
    """Only what training changes: all weights, or just the LoRA adapters."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    state = model.state_dict()
    if len(names) == len(state) or not names:
        return state
    return {k: v for k, v in state.items() if k in names}


@torch.no_grad()
def _pin_posterior_noise(vae, std: float) -> None:
    """Make the encoder's log-variance output the constant log(std²)."""
    conv = vae.quant_conv
    half = conv.out_channels // 2
    conv.weight[half:] = 0
    conv.bias[half:] = 2 * math.log(max(std, 1e-6))  # vae_noise 0: no noise, not log(0)


def _save_lora(unet, out: Path) -> None:
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(str(out), unet_lora_layers=layers)


def _mean_tail(losses, stage: str, n: int = 100) -> float | None:
    values = [loss for s, _, loss in losses if s == stage][-n:]
    return round(sum(values) / len(values), 5) if values else None


def _hardware() -> dict[str, Any]:
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
