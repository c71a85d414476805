"""ESPCN (Shi et al., 2016) with a bicubic skip: genlab's small shipped upscaler.

All convolutions run at low resolution, and the last one emits scale² values per
pixel that a pixel shuffle rearranges into the high-resolution grid — that is why
the network is cheap. Unlike the paper, the output is added to a bicubic upsample
of the input, so the network only learns the detail bicubic misses; that residual
form trains in minutes on a CPU instead of hours, and starts out already as good
as bicubic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ESPCNConfig:
    scale: int = 2
    channels: str = "y"  # "y": luma only (chroma is upscaled with bicubic); "rgb": all three
    # Paper: 64 and 32 filters with 5×5 then 3×3 kernels, ≈ 21 k weights at ×2.
    features: tuple[int, ...] = (64, 32)
    first_kernel: int = 5  # a wider first layer sees a 5×5 LR neighbourhood, as in the paper
    residual: bool = True  # add a bicubic upsample of the input (see module docstring)
    arch: str = field(default="espcn", init=False)

    @property
    def in_channels(self) -> int:
        return 1 if self.channels == "y" else 3

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> ESPCNConfig:
        data = {k: v for k, v in data.items() if k != "arch"}
        if "features" in data:
            data["features"] = tuple(data["features"])
        return cls(**data)


class ESPCN(nn.Module):
    def __init__(self, config: ESPCNConfig):
        super().__init__()
        self.config = config
        c, s = config.in_channels, config.scale
        layers: list[nn.Module] = []
        width, kernel = c, config.first_kernel
        for features in config.features:
            layers += [nn.Conv2d(width, features, kernel, padding=kernel // 2), nn.ReLU()]
            width, kernel = features, 3
        # scale² sub-pixel values per channel, rearranged by the shuffle below
        layers.append(nn.Conv2d(width, c * s * s, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.shuffle = nn.PixelShuffle(s)
        # The residual starts at zero so the untrained network is exactly bicubic.
        last = self.body[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, h, w) in [0, 1]
        out = self.shuffle(self.body(x))  # (B, C, h*s, w*s)
        if self.config.residual:
            out = out + F.interpolate(
                x, scale_factor=self.config.scale, mode="bicubic", align_corners=False
            )
        return out

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context each output depends on (bicubic's taps reach 2)."""
        radius = self.config.first_kernel // 2 + len(self.config.features)
        return max(radius, 2 if self.config.residual else 0)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_espcn(model: ESPCN, path: Path) -> None:
    """Weights as `<name>.safetensors` and the config beside them as `<name>.json`."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"arch": "espcn", "config": model.config.to_json()})
    path.with_suffix(".json").write_text(model.config.to_json())


def load_espcn(path: Path) -> ESPCN:
    """Inverse of `save_espcn`: the JSON beside the file, or the copy in its metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    config_path = path.with_suffix(".json")
    if config_path.exists():
        data = json.loads(config_path.read_text())
    else:
        with safe_open(str(path), framework="pt") as handle:
            data = json.loads((handle.metadata() or {})["config"])
    model = ESPCN(ESPCNConfig.from_dict(data))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def is_espcn_file(path: Path) -> bool:
    """True for a safetensors file written by `save_espcn`."""
    from safetensors import safe_open

    if path.suffix.lower() != ".safetensors":
        return False
    with safe_open(str(path), framework="pt") as handle:
        return (handle.metadata() or {}).get("arch") == "espcn"
