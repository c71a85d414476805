"""`genlab train shapes-encoder`: training the small CNN behind the `shapes` extractor.

The network, its input rule and its files are `genlab.metrics.shapes_encoder_net`;
this module is its training loop. The encoder is trained from scratch on Shapes World
scenes rendered on the fly, so it never sees the same image twice and needs no
dataset on disk; every head of the network gets its own loss.

Only clean renders are used. Noise, blur or occlusion are never shown, so a degraded
image lands off the manifold of clean ones and moves the features; that is what a
distance meant to grade generators must do. The one variation added on top of the
renderer's own (style, lighting, background, layout) is the input size: some scenes
are rendered larger and brought to 64 px with `prepare_image`, the rule the extractor
applies to every input, so a 128 px image and its 64 px twin land close together.

Training is deterministic for a given seed and thread count: scenes come from
`random.Random(seed)`, weights from `torch.manual_seed(seed)`.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genlab.core.errors import InvalidRequest
from genlab.metrics.shapes_encoder_net import (
    FACTS,
    GRID,
    HEADS,
    PAIRS,
    EncoderConfig,
    ShapesEncoder,
    load_encoder,
    prepare_image,
    save_encoder,
    to_tensor,
)
from genlab.world.render import render
from genlab.world.scene import Scene, random_scene, relation_holds
from genlab.world.vocab import COLOURS, LIGHTINGS, SHAPES, SIZES, STYLES

log = logging.getLogger(__name__)

# Rendered sizes mixed into training, with weights: mostly native 64 px, some larger
# renders downscaled by `prepare_image`, so the resize path is part of the domain.
RENDER_SIDES = (64, 96, 128)
RENDER_WEIGHTS = (0.7, 0.15, 0.15)
EVAL_IMAGES = 1024  # held-out renders scored at the end
PROBE_IMAGES = 256  # smaller held-out set scored during training (see StepInfo)
PROBE_EVERY = 250


# -- labels ---------------------------------------------------------------------------


def scene_labels(scene: Scene) -> dict[str, np.ndarray]:
    """Every head's target for `scene`: a class index or a 0/1 vector."""
    objects = scene.objects
    multi = {name: np.zeros(n, np.float32) for name, (kind, n) in HEADS.items() if kind == "multi"}
    for obj in objects:
        multi["shapes"][SHAPES.index(obj.shape)] = 1
        multi["colours"][list(COLOURS).index(obj.colour)] = 1
        multi["sizes"][SIZES.index(obj.size)] = 1
        multi["objects"][PAIRS.index((obj.shape, obj.colour))] = 1
        col, row = min(int(obj.x * GRID), GRID - 1), min(int(obj.y * GRID), GRID - 1)
        multi["position"][row * GRID + col] = 1
    # From the layout, not the stated relations: a caption picks which facts to say,
    # the picture shows all of them, and only the picture is the encoder's input.
    for a in objects:
        for b in objects:
            for rel in ("left_of", "above"):
                if a is not b and relation_holds(a, rel, b):
                    multi["relations"][FACTS.index((a.shape, rel, b.shape))] = 1
    single = {
        "count": len(objects) - 1,
        "background": list(COLOURS).index(scene.background),
        "lighting": LIGHTINGS.index(scene.lighting),
        "style": STYLES.index(scene.style),
    }
    return {**multi, **{k: np.int64(v) for k, v in single.items()}}


def make_batch(rng: random.Random, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`n` fresh scenes: images (n, 3, SIDE, SIDE) and each head's targets."""
    images, labels = [], []
    for _ in range(n):
        scene = random_scene(rng)
        side = rng.choices(RENDER_SIDES, RENDER_WEIGHTS)[0]
        images.append(prepare_image(render(scene, side, side, rng=rng)))
        labels.append(scene_labels(scene))
    targets = {name: torch.from_numpy(np.stack([lab[name] for lab in labels])) for name in HEADS}
    return to_tensor(images), targets


# -- training -------------------------------------------------------------------------


@dataclass(frozen=True)
class StepInfo:
    step: int
    total: int
    loss: float
    # Held-out accuracy per head, on PROBE_IMAGES scenes every PROBE_EVERY steps;
    # None on the other steps.
    accuracy: dict[str, float] | None = None


@dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    seconds: float
    params: int
    accuracy: dict[str, float]


def loss_fn(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    total = outputs["count"].new_zeros(())
    for name, (kind, _) in HEADS.items():
        if kind == "single":
            total = total + F.cross_entropy(outputs[name], targets[name])
        else:
            # Summed over labels: each label is one yes/no decision, so a 72-label head
            # counts for more than a 3-label one, as it has more to get right.
            bce = F.binary_cross_entropy_with_logits(outputs[name], targets[name], reduction="none")
            total = total + bce.sum(dim=1).mean()
    return total


@torch.inference_mode()
def head_accuracy(
    model: ShapesEncoder, images: torch.Tensor, targets: dict[str, torch.Tensor]
) -> dict[str, float]:
    """Top-1 accuracy for single-label heads; exact-set accuracy (every label right at
    0.5) for multi-label heads, so a head cannot score by predicting all-absent."""
    was_training = model.training
    model.eval()
    outputs = {name: [] for name in HEADS}
    for start in range(0, len(images), 256):
        for name, logits in model(images[start : start + 256]).items():
            outputs[name].append(logits)
    model.train(was_training)
    scores = {}
    for name, (kind, _) in HEADS.items():
        logits = torch.cat(outputs[name])
        if kind == "single":
            right = logits.argmax(dim=1) == targets[name]
        else:
            right = ((logits > 0).float() == targets[name]).all(dim=1)
        scores[name] = round(right.float().mean().item(), 4)
    return scores


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 2% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_encoder(
    out: Path,
    steps: int,
    batch_size: int,
    seed: int,
    threads: int | None,
    on_step: Callable[[StepInfo], None] | None = None,
    *,
    lr: float = 2e-3,
    config: EncoderConfig = EncoderConfig(),
    eval_images: int = EVAL_IMAGES,
) -> TrainResult:
    """Train an encoder and write `model.safetensors` + `config.json` into `out`.

    The accuracies in config.json come from `eval_images` held-out scenes drawn from
    their own seed, so they do not depend on `steps` or `batch_size`."""
    for name, value in (("steps", steps), ("batch_size", batch_size), ("eval_images", eval_images)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequest(name, value, "must be a positive integer")
    if threads is not None and threads < 1:
        raise InvalidRequest("threads", threads, "must be a positive integer")
    if threads:
        torch.set_num_threads(threads)
    warmup = min(200, max(1, steps // 10))
    torch.manual_seed(seed)
    model = ShapesEncoder(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scenes = random.Random(seed)
    # A separate stream, so the held-out scenes do not depend on steps or batch size.
    held_out = make_batch(random.Random(f"held-out-{seed}"), eval_images)
    probe = (held_out[0][:PROBE_IMAGES], {k: v[:PROBE_IMAGES] for k, v in held_out[1].items()})
    began = time.perf_counter()
    model.train()
    for step in range(steps):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup)
        images, targets = make_batch(scenes, batch_size)
        loss = loss_fn(model(images), targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        done = step + 1
        accuracy = None
        if done % PROBE_EVERY == 0 and done < steps:
            accuracy = head_accuracy(model, *probe)
            log.info("step %d loss %.3f accuracy %s", done, loss.item(), accuracy)
        if on_step is not None:
            on_step(StepInfo(done, steps, loss.item(), accuracy))
    seconds = time.perf_counter() - began
    model.eval()
    accuracy = head_accuracy(model, *held_out)
    settings = {
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "lr": lr,
        "warmup": warmup,
        "optimiser": "AdamW (weight decay 1e-4), linear warm-up then cosine decay to 2%",
        "render_sides": list(RENDER_SIDES),
        "render_weights": list(RENDER_WEIGHTS),
    }
    save_encoder(
        model,
        out,
        training=settings,
        accuracy=accuracy,
        held_out_images=eval_images,
        seconds=seconds,
    )
    log.info("wrote %s (%d held-out images: %s)", out, eval_images, accuracy)
    return TrainResult(out, steps, seconds, model.num_params(), accuracy)


__all__ = [
    "EncoderConfig",
    "ShapesEncoder",
    "StepInfo",
    "TrainResult",
    "load_encoder",
    "prepare_image",
    "train_encoder",
]
