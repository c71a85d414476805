"""VGG-19 convolutional features for neural style transfer.

The network is torchvision's VGG-19 `features` stack, built here layer for layer with
the same parameter names (`features.0.weight` … `features.34.bias`), so torchvision's
standard file `vgg19-dcbb9e9d.pth` loads into it without torchvision itself and
without ever downloading. When that file is absent the same architecture runs with
random filters: Ustyuzhaninov et al. (2016, 2017) and He, Wang & Hopcroft (2016)
show that random convolutional features still capture texture, so this is a usable,
though less faithful, fallback — it is always named in the output, never silent.

Layer names follow Gatys et al.: convX_Y / reluX_Y / poolX.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from genlab import pretrained
from genlab.core.errors import InvalidRequest, ModelLoadError

log = logging.getLogger(__name__)

WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's name for the ImageNet VGG-19
FEATURES_IMAGENET = "vgg19-imagenet"
FEATURES_FALLBACK = "vgg19-random-fallback"

# Output channels per conv, "M" for a 2x2 pooling: torchvision's configuration "E".
_CONFIG: tuple[int | str, ...] = (
    *(64, 64, "M"),
    *(128, 128, "M"),
    *(256, 256, 256, 256, "M"),
    *(512, 512, 512, 512, "M"),
    *(512, 512, 512, 512, "M"),
)
# torchvision trains on images normalised by the ImageNet statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> list[str]:
    """Names of the modules of `features`, in order: conv1_1, relu1_1, conv1_2, …"""
    names, block, conv = [], 1, 1
    for item in _CONFIG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


LAYERS: tuple[str, ...] = tuple(_layer_names())


def layer_stride(layer: str) -> int:
    """How many pixels of the input one position of `layer` covers (1 for block 1)."""
    check_layers([layer])
    block = int(layer.removeprefix("conv").removeprefix("relu").removeprefix("pool")[0])
    return 2 ** (block if layer.startswith("pool") else block - 1)


def check_layers(layers: list[str] | tuple[str, ...], field: str = "layers") -> None:
    unknown = [name for name in layers if name not in LAYERS]
    if unknown:
        raise InvalidRequest(field, unknown[0], "must be a VGG-19 layer like relu4_2 or conv1_1")


def default_weights_path() -> Path:
    """Where torchvision keeps (and looks for) the file: $TORCH_HOME/hub/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


@dataclass(frozen=True)
class FeatureSource:
    """Which filters the extractor uses, for logs and image metadata."""

    label: str  # FEATURES_IMAGENET or FEATURES_FALLBACK
    path: Path | None  # the weights file, None for the fallback
    message: str | None  # the one-line notice when the fallback is used


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The `features.*` tensors of a VGG-19 file (.pth or .safetensors); one-line errors."""
    if not path.is_file():
        raise ModelLoadError(f"VGG-19 weights {path} do not exist (or are not a file)")
    state = pretrained.read_state_dict(
        path, "VGG-19 weights", f"torchvision's {WEIGHTS_FILE} state dict or a .safetensors file"
    )
    return {k: v for k, v in state.items() if isinstance(k, str) and k.startswith("features.")}


class VGGFeatures(nn.Module):
    """`features` up to a layer; `forward(x, layers)` returns those layers' outputs."""

    def __init__(self, upto: str, pooling: str):
        super().__init__()
        modules: list[nn.Module] = []
        channels = 3
        keep = LAYERS.index(upto) + 1
        for item in _CONFIG:
            if len(modules) >= keep:  # layers past `upto` are never built
                break
            if item == "M":
                pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
                modules.append(pool(kernel_size=2, stride=2))
            else:
                modules.append(nn.Conv2d(channels, int(item), kernel_size=3, padding=1))
                # Not in place: a conv output requested as a feature must survive.
                modules.append(nn.ReLU(inplace=False))
                channels = int(item)
        # Indices (hence parameter names) match torchvision's.
        self.features = nn.Sequential(*modules[:keep])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def load(self, state: dict[str, torch.Tensor], path: Path) -> None:
        wanted = self.features.state_dict()
        for key, param in wanted.items():
            full = f"features.{key}"
            if full not in state:
                raise ModelLoadError(
                    f"VGG-19 weights {path} lack {full}: not torchvision's VGG-19 state dict"
                )
            if tuple(state[full].shape) != tuple(param.shape):
                raise ModelLoadError(
                    f"VGG-19 weights {path}: {full} has shape {tuple(state[full].shape)}, "
                    f"VGG-19 needs {tuple(param.shape)}"
                )
        self.features.load_state_dict(
            {k: state[f"features.{k}"].float() for k in wanted}, strict=True
        )

    def randomise(self, seed: int) -> None:
        # Kaiming (He) normal init keeps the second moment of ReLU activations
        # roughly constant through depth, so deep layers neither vanish nor explode.
        generator = torch.Generator().manual_seed(seed)
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * 9
                std = (2.0 / fan_in) ** 0.5
                with torch.no_grad():
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                    module.bias.zero_()

    def forward(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        # x: (B, 3, H, W) RGB in [0, 1]
        h = (x - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        wanted = set(layers)
        for name, module in zip(LAYERS, self.features):
            h = module(h)
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):
                    break
        return out


def build_features(
    upto: str,
    *,
    pooling: Literal["max", "avg"] = "max",
    weights: Path | None = None,
    seed: int = 0,
) -> tuple[VGGFeatures, FeatureSource]:
    """VGG-19 features truncated after layer `upto`, with ImageNet or random filters.

    `weights=None` looks in torchvision's cache; a missing file there means the
    random-filter fallback (logged as one warning line), a missing or bad file given
    explicitly is an error.
    """
    check_layers([upto], "layer")
    if pooling not in ("max", "avg"):
        raise InvalidRequest("pooling", pooling, "must be max or avg")
    explicit = weights is not None
    path = weights if weights is not None else default_weights_path()
    net = VGGFeatures(upto, pooling)
    if explicit or path.is_file():
        net.load(load_state_dict(path), path)
        source = FeatureSource(FEATURES_IMAGENET, path, None)
    else:
        net.randomise(seed)
        message = (
            f"VGG-19 weights not found at {path}; using the random-filter fallback "
            f"(less faithful): pass --weights or place {WEIGHTS_FILE} in {path.parent}"
        )
        log.warning(message)
        source = FeatureSource(FEATURES_FALLBACK, None, message)
    net.eval().requires_grad_(False)
    return net, source
