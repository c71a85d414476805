"""`genlab train shapes-encoder`: the small CNN behind the `shapes` feature extractor.

The encoder is trained from scratch on Shapes World scenes rendered on the fly, so it
never sees the same image twice and needs no dataset on disk. Its 128-D embedding
feeds several linear heads, one per thing a Shapes World image is about: which
shapes, colours and sizes appear, which shape has which colour, how many objects
there are, where they stand and how they stand to each other, and the background,
lighting and style. An embedding that must answer all of those linearly is one in
which Fréchet distance measures what differs between two sets of scenes.

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

import json
import logging
import math
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from genlab.core.errors import InvalidRequest
from genlab.world.render import render
from genlab.world.scene import Scene, random_scene, relation_holds
from genlab.world.vocab import COLOURS, LIGHTINGS, MAX_OBJECTS, SHAPES, SIZES, STYLES

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
SIDE = 64  # the network's input side; every image is brought to SIDE x SIDE
# Rendered sizes mixed into training, with weights: mostly native 64 px, some larger
# renders downscaled by `prepare_image`, so the resize path is part of the domain.
RENDER_SIDES = (64, 96, 128)
RENDER_WEIGHTS = (0.7, 0.15, 0.15)
GRID = 3  # object centres are also located on a GRID x GRID grid
EVAL_IMAGES = 1024  # held-out renders scored at the end
PROBE_IMAGES = 256  # smaller held-out set scored during training (see StepInfo)
PROBE_EVERY = 250

RESIZE_RULE = (
    f"convert to RGB (alpha composited on white), then, if not {SIDE}x{SIDE}, PIL resize "
    f"to {SIDE}x{SIDE} with BICUBIC and reducing_gap=3.0 (aspect ratio not kept)"
)

_PAIRS = [(shape, colour) for shape in SHAPES for colour in COLOURS]
_FACTS = [(a, rel, b) for a in SHAPES for rel in ("left_of", "above") for b in SHAPES]
# name -> (kind, number of outputs). "single": one class (softmax); "multi": a set of
# labels (one sigmoid each). Order is the order of the heads in the network.
HEADS: dict[str, tuple[str, int]] = {
    "count": ("single", MAX_OBJECTS),  # 1, 2 or 3 objects
    "shapes": ("multi", len(SHAPES)),  # which shapes appear
    "colours": ("multi", len(COLOURS)),  # which object colours appear
    "sizes": ("multi", len(SIZES)),  # which sizes appear
    "objects": ("multi", len(_PAIRS)),  # which (shape, colour) pairs: colour bound to shape
    "position": ("multi", GRID * GRID),  # grid cells holding an object centre
    "relations": ("multi", len(_FACTS)),  # (shape, left_of|above, shape) visible in the layout
    "background": ("single", len(COLOURS)),
    "lighting": ("single", len(LIGHTINGS)),
    "style": ("single", len(STYLES)),
}


# -- the network ----------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderConfig:
    # Stem width at 64 px, then one width per stride-2 stage: 64 -> 32 -> 16 -> 8 px.
    widths: tuple[int, ...] = (32, 32, 64, 96)
    # Extra (residual) stride-1 convs per stage: one, at 8 px, where a conv is cheap.
    repeats: tuple[int, ...] = (0, 0, 1)
    # Position: the last map, averaged to 4x4, squeezed to this many channels, flattened.
    readout: int = 32
    embed_dim: int = 128  # <= 128 so FD works with a few hundred images (N > D)
    side: int = SIDE

    @classmethod
    def from_dict(cls, data: dict) -> EncoderConfig:
        data = dict(data)
        data["widths"] = tuple(data["widths"])
        data["repeats"] = tuple(data["repeats"])
        return cls(**data)


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    """x + conv(x): the extra convs refine a stage's map instead of replacing it."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = _conv(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class ShapesEncoder(nn.Module):
    # A shallow plain stack ending at 8x8 on purpose: the same network carried on to
    # 4x4 with more layers sat at chance on object colours for hundreds of steps, while
    # this one learns them within the first few hundred (both measured on 4096 renders).
    def __init__(self, config: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.config = config
        stem, *stages = config.widths
        if len(config.repeats) != len(stages):
            raise InvalidRequest(
                "repeats", config.repeats, f"needs one entry per stage ({len(stages)})"
            )
        layers = [_conv(3, stem, 1)]
        width = stem
        for out, repeats in zip(stages, config.repeats):
            layers.append(_conv(width, out, 2))
            layers += [_Residual(out) for _ in range(repeats)]
            width = out
        self.body = nn.Sequential(*layers)
        self.squeeze = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), nn.Conv2d(width, config.readout, 1), nn.ReLU(inplace=True)
        )
        # Max and mean over the map say what is there wherever it stands (learned once for
        # every position); the squeezed 4x4 map says where it stands.
        self.embed = nn.Linear(2 * width + config.readout * 16, config.embed_dim)
        self.heads = nn.ModuleDict(
            {name: nn.Linear(config.embed_dim, n) for name, (_, n) in HEADS.items()}
        )

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, 64, 64), values in [0, 1]
        h = self.body(x * 2 - 1)  # (B, C, 8, 8)
        pooled = torch.cat([h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)  # (B, 2C)
        where = self.squeeze(h).flatten(1)  # (B, readout * 16)
        return self.embed(torch.cat([pooled, where], dim=1))  # (B, embed_dim): the feature

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.embedding(x)
        return {name: head(z) for name, head in self.heads.items()}

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# -- inputs and labels ----------------------------------------------------------------


def prepare_image(image: Image.Image) -> np.ndarray:
    """An image as the network sees it: (SIDE, SIDE, 3) uint8, by RESIZE_RULE."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    if image.size != (SIDE, SIDE):
        image = image.resize((SIDE, SIDE), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8)


def to_tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """(N, SIDE, SIDE, 3) uint8 arrays -> (N, 3, SIDE, SIDE) float in [0, 1]."""
    batch = torch.from_numpy(np.stack(arrays))
    return batch.permute(0, 3, 1, 2).float().div_(255)


def scene_labels(scene: Scene) -> dict[str, np.ndarray]:
    """Every head's target for `scene`: a class index or a 0/1 vector."""
    objects = scene.objects
    multi = {name: np.zeros(n, np.float32) for name, (kind, n) in HEADS.items() if kind == "multi"}
    for obj in objects:
        multi["shapes"][SHAPES.index(obj.shape)] = 1
        multi["colours"][list(COLOURS).index(obj.colour)] = 1
        multi["sizes"][SIZES.index(obj.size)] = 1
        multi["objects"][_PAIRS.index((obj.shape, obj.colour))] = 1
        col, row = min(int(obj.x * GRID), GRID - 1), min(int(obj.y * GRID), GRID - 1)
        multi["position"][row * GRID + col] = 1
    # From the layout, not the stated relations: a caption picks which facts to say,
    # the picture shows all of them, and only the picture is the encoder's input.
    for a in objects:
        for b in objects:
            for rel in ("left_of", "above"):
                if a is not b and relation_holds(a, rel, b):
                    multi["relations"][_FACTS.index((a.shape, rel, b.shape))] = 1
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


# -- files ----------------------------------------------------------------------------


def save_encoder(
    model: ShapesEncoder,
    out: Path,
    *,
    training: dict,
    accuracy: dict[str, float],
    held_out_images: int,
    seconds: float,
) -> None:
    """`model.safetensors` (fp32) and `config.json` describing how it was made."""
    from safetensors.torch import save_file

    from genlab import __version__

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"arch": "genlab-shapes-encoder"})
    config = {
        "arch": "genlab-shapes-encoder",
        "architecture": asdict(model.config),
        "input": RESIZE_RULE,
        "heads": {name: {"kind": kind, "outputs": n} for name, (kind, n) in HEADS.items()},
        "params": model.num_params(),
        "training": training,
        "held_out_images": held_out_images,
        "held_out_accuracy": accuracy,
        "train_seconds": round(seconds, 1),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "genlab": __version__,
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def load_encoder(folder: Path) -> ShapesEncoder:
    """The encoder in `folder`, in eval mode. File errors propagate to the caller, which
    knows how to phrase them (see genlab.metrics.shapes_encoder)."""
    from safetensors.torch import load_file

    config = json.loads((folder / CONFIG_FILE).read_text())
    model = ShapesEncoder(EncoderConfig.from_dict(config["architecture"]))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    return model.eval()


__all__ = [
    "EncoderConfig",
    "ShapesEncoder",
    "StepInfo",
    "TrainResult",
    "load_encoder",
    "prepare_image",
    "train_encoder",
]
