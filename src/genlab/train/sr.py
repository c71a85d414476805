"""Training genlab's ESPCN on the bundled photos (see `data.py` for what is held out).

Adam with a cosine learning-rate decay, MSE loss on random LR/HR patches. A
checkpoint (weights, optimiser, sampler state, step) is written every
`checkpoint_every` steps; running the same command again with the same output
folder continues from it and gives the same weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.core.errors import InvalidRequest
from genlab.upscale.espcn import ESPCN, ESPCNConfig, save_espcn

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainConfig:
    scale: int = 2
    steps: int = 3000
    batch_size: int = 32
    patch: int = 32  # LR patch side; 32 px sees a few of the largest textures at ×2
    lr: float = 1e-3  # peak: Adam's usual default; the cosine decay does the fine-tuning
    min_lr: float = 1e-5  # cosine decay ends here
    seed: int = 0
    channels: str = "y"
    loss: str = "mse"  # the loss PSNR measures; L1's sign-only gradient stalls on small residuals
    features: tuple[int, ...] = (64, 32)
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise InvalidRequest("scale", self.scale, "must be 2, 3 or 4")
        for name in ("steps", "batch_size", "patch", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InvalidRequest(name, getattr(self, name), "must be a positive integer")
        if not 0 < self.lr < 1:
            raise InvalidRequest("lr", self.lr, "must be in (0, 1)")
        if self.loss not in ("mse", "l1"):
            raise InvalidRequest("loss", self.loss, "must be 'mse' or 'l1'")
        if self.channels not in ("y", "rgb"):
            raise InvalidRequest("channels", self.channels, "must be 'y' or 'rgb'")

    def model_config(self) -> ESPCNConfig:
        return ESPCNConfig(scale=self.scale, channels=self.channels, features=self.features)

    def learning_rate(self, step: int) -> float:
        progress = min(step / self.steps, 1.0)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class StepInfo:
    step: int
    total: int
    loss: float
    lr: float


@dataclass(frozen=True)
class TrainResult:
    weights: Path
    steps: int
    seconds: float
    resumed_from: int
    params: int


def train(
    config: TrainConfig,
    out: Path,
    *,
    on_step: Callable[[StepInfo], None] | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train (or continue training) into `out`; returns where the weights are."""
    from genlab.upscale.data import PatchSampler, train_pairs

    torch.manual_seed(config.seed)
    model = ESPCN(config.model_config())
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    sampler = PatchSampler(
        train_pairs(config.scale), config.scale, config.patch, config.channels, config.seed
    )
    start = 0
    checkpoint = out / CHECKPOINT
    if resume and checkpoint.exists():
        start = _load_checkpoint(checkpoint, config, model, optimiser, sampler)
        log.info("resuming from step %d", start)
    seconds = _previous_seconds(out) if start else 0.0
    began = time.perf_counter()
    model.train()
    for step in range(start, config.steps):
        lr = config.learning_rate(step)
        for group in optimiser.param_groups:
            group["lr"] = lr
        lr_patch, hr_patch = sampler.batch(config.batch_size)
        prediction = model(torch.from_numpy(lr_patch))  # (B, C, p*s, p*s)
        target = torch.from_numpy(hr_patch)
        if config.loss == "mse":
            loss = F.mse_loss(prediction, target)
        else:
            loss = F.l1_loss(prediction, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        done = step + 1
        if done % config.checkpoint_every == 0 or done == config.steps:
            elapsed = seconds + time.perf_counter() - began
            _save_checkpoint(checkpoint, config, model, optimiser, sampler, done, elapsed)
        if on_step is not None:
            on_step(StepInfo(done, config.steps, loss.item(), lr))
    model.eval()
    elapsed = seconds + time.perf_counter() - began
    weights = out / f"espcn-x{config.scale}.safetensors"
    save_espcn(model, weights)
    return TrainResult(weights, config.steps, elapsed, start, model.num_params())


def _save_checkpoint(
    path: Path,
    config: TrainConfig,
    model: ESPCN,
    optimiser: torch.optim.Optimizer,
    sampler,
    step: int,
    seconds: float,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "step": step,
        # JSON keeps the checkpoint loadable with torch.load(weights_only=True)
        "sampler": json.dumps(sampler.rng.bit_generator.state),
        "config": json.dumps(_identity(config)),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    log_path = path.parent / "train.json"
    log_path.write_text(
        json.dumps({"config": asdict(config), "step": step, "seconds": seconds}, indent=2) + "\n"
    )


def _load_checkpoint(path: Path, config: TrainConfig, model, optimiser, sampler) -> int:
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = json.loads(state["config"])
    if saved != _identity(config):
        changed = sorted(k for k in saved if saved[k] != _identity(config).get(k))
        raise InvalidRequest(
            "out",
            str(path.parent),
            f"holds a checkpoint with different {', '.join(changed)}; "
            "use the same settings or a new --out folder",
        )
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    sampler.rng.bit_generator.state = json.loads(state["sampler"])
    return int(state["step"])


def _identity(config: TrainConfig) -> dict:
    """The settings a checkpoint must share with the run that continues it (--steps may grow)."""
    data = asdict(config)
    data.pop("steps")
    data.pop("checkpoint_every")
    data["features"] = list(data["features"])
    return data


def _previous_seconds(out: Path) -> float:
    log_path = out / "train.json"
    if not log_path.exists():
        return 0.0
    return float(json.loads(log_path.read_text()).get("seconds", 0.0))


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


__all__ = ["StepInfo", "TrainConfig", "TrainResult", "train"]
