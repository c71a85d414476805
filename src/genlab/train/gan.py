"""Train the text-conditional GAN (`genlab train gan`).

The losses, and why (each is what the literature found stable at this scale):
- hinge loss (Lim & Ye 2017; SAGAN, BigGAN) on a spectrally normalised projection
  discriminator (see genlab.train.gan_disc);
- matching-aware pairs (Reed et al. 2016, DF-GAN): a real image with another image's
  caption is scored as fake, so matching the caption is part of being "real";
- lazy R1 (Mescheder et al. 2018; StyleGAN2): a gradient penalty on real images,
  every `r1_every` steps with its weight scaled by the same factor;
- DiffAugment on everything the discriminator sees; an EMA of the generator is what
  is sampled, watched and saved.

The run writes into `out`: checkpoint/state.pt (resumable, atomic), samples/ (a grid
every `sample_every` steps), log.jsonl (losses and the collapse watch), and at the end
the model folder itself (model.safetensors + config.json, loadable by the `gan`
engine) with training.json (settings, minutes per stage, the watch's last numbers).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from genlab.core.errors import GenlabError
from genlab.engines.gan_net import (
    GanConfig,
    Generator,
    WordTokenizer,
    save_generator,
    seeded_noise,
    words_of,
)
from genlab.train import checkpoint
from genlab.train.data import load_captioned_images
from genlab.train.ema import EMA
from genlab.train.gan_disc import AUGMENTS, Discriminator, diff_augment

log = logging.getLogger(__name__)
SAMPLE_PROMPTS = (
    "a red star left of a blue circle",
    "a large green square",
    "two yellow hearts on a black background",
    "a small white triangle above a purple hexagon",
    "a big orange circle at night",
    "a pink heart and a cyan star, in outline style",
    "three grey squares",
    "a blue hexagon on a white background",
)


@dataclass(frozen=True)
class GanTrainConfig:
    steps: int = 4000
    batch_size: int = 16
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.99)
    ema_decay: float = 0.999
    r1_gamma: float = 0.2
    r1_every: int = 16
    mismatch_weight: float = 0.5
    augment: tuple[str, ...] = ("translation",)
    d_channels: tuple[int, ...] = (16, 32, 64, 128)
    resolution: int = 64
    channels: tuple[int, ...] = (128, 96, 64, 32, 16)
    holdout: int = 500  # the folder's last images: never trained on, the watch's reference
    limit: int | None = None
    seed: int = 0
    sample_every: int = 250
    checkpoint_every: int = 250
    watch_every: int = 500
    minutes: float | None = None  # stop (and save) when this much wall time is spent

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "r1_every", "sample_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GenlabError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise GenlabError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise GenlabError(f"{name} must be positive, got {getattr(self, name)}")
        if self.r1_gamma < 0:
            raise GenlabError(f"r1_gamma must be >= 0, got {self.r1_gamma}")
        unknown = [a for a in self.augment if a not in AUGMENTS]
        if unknown:
            raise GenlabError(f"augment {unknown[0]!r} is not one of {', '.join(AUGMENTS)}")
        if self.holdout < 16:
            raise GenlabError(f"holdout must be at least 16 images, got {self.holdout}")
        if self.minutes is not None and not self.minutes > 0:
            raise GenlabError(f"minutes must be positive, got {self.minutes}")
        GanConfig(resolution=self.resolution, channels=self.channels)  # checks they fit

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data


@dataclass(frozen=True)
class GanStepInfo:
    stage: str
    step: int
    total: int
    loss: float  # the discriminator's (the progress bar's one number)
    loss_g: float
    watch: dict[str, float] | None = None


@dataclass
class GanTrainResult:
    out: Path
    steps: int
    images: int
    seconds: float
    watch: dict[str, float] = field(default_factory=dict)
    samples: list[Path] = field(default_factory=list)
    resumed_from: int | None = None


def train(
    config: GanTrainConfig,
    data: Path,
    out: Path,
    *,
    on_step: Callable[[GanStepInfo], None] | None = None,
    resume: bool = True,
) -> GanTrainResult:
    return GanTrainer(config, Path(data), Path(out), on_step).run(resume)


class GanTrainer:
    def __init__(self, config, data: Path, out: Path, on_step):
        self.config, self.data, self.out, self.on_step = config, data, out, on_step
        self.minutes: dict[str, float] = {}

    # -- setup --------------------------------------------------------------------
    def _load(self) -> None:
        c = self.config
        started = time.perf_counter()
        found = load_captioned_images(self.data, c.resolution, limit=c.limit)
        if len(found) < c.holdout + c.batch_size:
            raise GenlabError(
                f"{self.data} has {len(found)} images; training needs at least "
                f"{c.holdout + c.batch_size} (--holdout {c.holdout} + one batch)"
            )
        split = len(found) - c.holdout
        self.images, self.captions = found.images[:split], found.captions[:split]
        self.held_images, self.held_captions = found.images[split:], found.captions[split:]
        self.fingerprint = checkpoint.data_fingerprint(found.captions)
        vocab = sorted({w for caption in self.captions for w in words_of(caption)})
        self.gan_config = GanConfig(resolution=c.resolution, channels=c.channels, vocab=vocab)
        self.tokenizer = WordTokenizer(vocab, self.gan_config.max_words)
        self.ids = self.tokenizer(self.captions)  # (N, L), tokenised once
        self.minutes["load_data"] = (time.perf_counter() - started) / 60

    def _build(self) -> None:
        c, g = self.config, self.gan_config
        torch.manual_seed(c.seed)
        self.G = Generator(g)
        self.D = Discriminator(len(g.vocab) + 2, g.max_words, c.d_channels)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=c.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=c.betas)
        self.ema = EMA(dict(self.G.named_parameters()), c.ema_decay)
        self.rng = torch.Generator().manual_seed(c.seed)
        self.step = 0
        self.log_rows: list[dict] = []

    def _run_config(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "architecture": self.gan_config.to_dict()}

    def _resume(self, resume: bool) -> int | None:
        if not resume:
            checkpoint.discard(self.out)
            return None
        state = checkpoint.load(self.out, self._run_config(), self.data, self.fingerprint)
        if state is None:
            return None
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.ema.load_state_dict(state["ema"])
        self.rng.set_state(state["rng"])
        self.step = state["step"]
        self.log_rows = state["log"]
        self.minutes = {**state["minutes"], "load_data": self.minutes["load_data"]}
        return self.step

    # -- the loop -----------------------------------------------------------------
    def run(self, resume: bool) -> GanTrainResult:
        self._load()
        self._build()
        resumed_from = self._resume(resume)
        from genlab.metrics.shapes_encoder import load as load_shapes
        from genlab.train.gan_watch import Watch

        started = time.perf_counter()
        self.watch = Watch.build(load_shapes(None), self.held_captions, self.held_images)
        self._add_minutes("watch", started)
        samples: list[Path] = []
        budget_end = time.perf_counter() + 60 * self.config.minutes if self.config.minutes else None
        # A run resumed at its end saves again with the watch it last logged.
        watched = [row for row in self.log_rows if "recall" in row]
        last_watch = (
            {k: watched[-1][k] for k in ("diversity", "precision", "recall")} if watched else {}
        )
        while self.step < self.config.steps:
            started = time.perf_counter()
            loss_d, loss_g = self._train_step()
            self.step += 1
            self._add_minutes("train", started)
            row: dict[str, Any] = {"step": self.step, "loss_d": loss_d, "loss_g": loss_g}
            last = self.step == self.config.steps or (
                budget_end is not None and time.perf_counter() > budget_end
            )
            if self.step % self.config.watch_every == 0 or last:
                started = time.perf_counter()
                last_watch = self.watch.measure(self._draw)
                row.update(last_watch)
                self._add_minutes("watch", started)
            self.log_rows.append(row)
            if self.step % self.config.sample_every == 0 or last:
                samples.append(self._sample())
            if self.step % self.config.checkpoint_every == 0 or last:
                self._checkpoint()
            if self.on_step is not None:
                watched = last_watch if "diversity" in row else None
                self.on_step(
                    GanStepInfo("gan", self.step, self.config.steps, loss_d, loss_g, watched)
                )
            if last:
                break
        self._save(last_watch)
        seconds = 60 * sum(self.minutes.values())
        return GanTrainResult(
            self.out, self.step, len(self.captions), seconds, last_watch, samples, resumed_from
        )

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(0, len(self.captions), (self.config.batch_size,), generator=self.rng)
        real = self.images[index].float() / 127.5 - 1  # (B, 3, R, R) in [-1, 1]
        return real, self.ids[index]

    def _d(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.D(diff_augment(x, self.config.augment, self.rng), ids)

    def _train_step(self) -> tuple[float, float]:
        c = self.config
        real, ids = self._batch()
        z = torch.randn(len(real), self.gan_config.z_dim, generator=self.rng)
        # 1. Discriminator: real/matching up, fake and mismatched down (hinge)
        with torch.no_grad():
            fake = self.G(z, ids)
        wrong = ids.roll(1, dims=0)  # another image's caption; rarely the same text
        # The real images' features serve both their own and the wrong captions.
        h_real = self.D.trunk(diff_augment(real, c.augment, self.rng))  # (B, C)
        loss_d = (
            F.relu(1 - self.D.score(h_real, ids)).mean()
            + F.relu(1 + self._d(fake, ids)).mean()
            + c.mismatch_weight * F.relu(1 + self.D.score(h_real, wrong)).mean()
        )
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if c.r1_gamma > 0 and self.step % c.r1_every == 0:
            self._r1(real, ids)
        self.opt_d.step()
        # 2. Generator: raise the discriminator's score of its images for their captions
        z = torch.randn(len(real), self.gan_config.z_dim, generator=self.rng)
        for p in self.D.parameters():
            p.requires_grad_(False)
        w = self.G.mapping(z)
        fake = self.G.synthesis(w, self.G.embed_text(ids))
        loss_g = -self._d(fake, ids).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        self.ema.update()
        with torch.no_grad():  # StyleGAN's running mean of w, the truncation centre
            self.G.w_avg.lerp_(w.mean(0), 0.005)
        return loss_d.item(), loss_g.item()

    def _r1(self, real: torch.Tensor, ids: torch.Tensor) -> None:
        """Lazy R1: gamma/2 E|grad D(x)|², every r1_every steps, times r1_every.
        Gradients add to the hinge loss's, already in .grad."""
        x = real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self._d(x, ids).sum(), x, create_graph=True)
        penalty = grad.square().sum(dim=(1, 2, 3)).mean()
        (0.5 * self.config.r1_gamma * self.config.r1_every * penalty).backward()

    @torch.no_grad()
    def _draw(self, captions: list[str], seed: int) -> torch.Tensor:
        """Images from the EMA generator, seed i for caption i (the engine's rule)."""
        with self.ema.applied():
            out = []
            for start in range(0, len(captions), 64):
                chunk = captions[start : start + 64]
                z = seeded_noise(range(seed + start, seed + start + len(chunk)), self.gan_config)
                out.append(self.G(z, self.tokenizer(chunk)))
            return torch.cat(out)

    def _sample(self) -> Path:
        from genlab.core.grid import labelled_grid
        from genlab.train.gan_watch import to_pil

        images = to_pil(self._draw(list(SAMPLE_PROMPTS), 0))
        path = self.out / "samples" / f"step-{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.atomic_image(labelled_grid(images, list(SAMPLE_PROMPTS), columns=4), path)
        return path

    def _checkpoint(self) -> None:
        state = {
            "config": self._run_config(),
            "data": str(self.data.resolve()),
            "data_fingerprint": self.fingerprint,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "ema": self.ema.state_dict(),
            "rng": self.rng.get_state(),
            "step": self.step,
            "log": self.log_rows,
            "minutes": self.minutes,
        }
        checkpoint.save(self.out, state)
        self._write_log()

    def _write_log(self) -> None:
        lines = "".join(json.dumps(row) + "\n" for row in self.log_rows)
        tmp = self.out / "log.jsonl.tmp"
        tmp.write_text(lines)
        tmp.replace(self.out / "log.jsonl")

    def _save(self, watch: dict[str, float]) -> None:
        training = {
            "config": self.config.to_dict(),
            "data": self.data.name,  # the folder's name: a path would tie it to one machine
            "data_fingerprint": self.fingerprint,
            "images": len(self.captions),
            "held_out": len(self.held_captions),
            "steps": self.step,
            "minutes": {k: round(v, 2) for k, v in self.minutes.items()},
            "watch": watch,
            "torch": torch.__version__,
        }
        with self.ema.applied():
            save_generator(self.G, self.out, {"training": {"steps": self.step}})
        (self.out / "training.json").write_text(json.dumps(training, indent=1))
        self._write_log()

    def _add_minutes(self, stage: str, started: float) -> None:
        self.minutes[stage] = self.minutes.get(stage, 0.0) + (time.perf_counter() - started) / 60
