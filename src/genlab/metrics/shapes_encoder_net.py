"""The `shapes` feature extractor's network: a small CNN that reads Shapes World images.

Its 128-D embedding feeds several linear heads, one per thing a Shapes World image is
about: which shapes, colours and sizes appear, which shape has which colour, how many
objects there are, where they stand and how they stand to each other, and the
background, lighting and style. An embedding that must answer all of those linearly
is one in which Fréchet distance measures what differs between two sets of scenes.

This module is the network, its input rule and its files; how it is trained lives in
`genlab.train.shapes_encoder` (`genlab train shapes-encoder`).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from genlab.core.errors import InvalidRequest
from genlab.world.vocab import COLOURS, LIGHTINGS, MAX_OBJECTS, SHAPES, SIZES, STYLES

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
SIDE = 64  # the network's input side; every image is brought to SIDE x SIDE

GRID = 3  # object centres are also located on a GRID x GRID grid

RESIZE_RULE = (
    f"convert to RGB (alpha composited on white), then, if not {SIDE}x{SIDE}, PIL resize "
    f"to {SIDE}x{SIDE} with BICUBIC and reducing_gap=3.0 (aspect ratio not kept)"
)

PAIRS = [(shape, colour) for shape in SHAPES for colour in COLOURS]
FACTS = [(a, rel, b) for a in SHAPES for rel in ("left_of", "above") for b in SHAPES]
# name -> (kind, number of outputs). "single": one class (softmax); "multi": a set of
# labels (one sigmoid each). Order is the order of the heads in the network.
HEADS: dict[str, tuple[str, int]] = {
    "count": ("single", MAX_OBJECTS),  # 1, 2 or 3 objects
    "shapes": ("multi", len(SHAPES)),  # which shapes appear
    "colours": ("multi", len(COLOURS)),  # which object colours appear
    "sizes": ("multi", len(SIZES)),  # which sizes appear
    "objects": ("multi", len(PAIRS)),  # which (shape, colour) pairs: colour bound to shape
    "position": ("multi", GRID * GRID),  # grid cells holding an object centre
    "relations": ("multi", len(FACTS)),  # (shape, left_of|above, shape) visible in the layout
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

    from genlab.core.version import __version__

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
