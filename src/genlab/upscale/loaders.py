"""Upscalers by name: the resampling baselines, genlab's shipped ESPCN, and any
pretrained SR model spandrel recognises (ESRGAN, Real-ESRGAN, SwinIR, HAT, DAT, …).

Every upscaler turns an 8-bit RGB PIL image into one `native_scale` times larger
(resamplers have no native scale: they go straight to the requested one).
Model files: `.safetensors` by default; pickles (`.pth`, `.pt`, `.ckpt`) can run
code when unpickled, so they load only with `allow_pickle=True`.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from genlab.core.errors import InvalidRequest, ModelLoadError
from genlab.metrics.sr import rgb_to_y
from genlab.upscale.tiling import DEFAULT_OVERLAP, upscale_tiled

if TYPE_CHECKING:
    from genlab.upscale.espcn import ESPCN

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models" / "sr"
RESAMPLERS = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
SHIPPED = "espcn"
MODEL_NAMES = (*RESAMPLERS, SHIPPED)
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
OnTile = Callable[[int, int], None]


class Upscaler:
    """Base: `name` for metadata, `native_scale` (None: any scale)."""

    name: str
    native_scale: int | None = None

    def upscale(
        self, image: Image.Image, scale: int, *, tile: int, on_tile: OnTile | None = None
    ) -> Image.Image:
        raise NotImplementedError


@dataclass
class Resampler(Upscaler):
    name: str
    native_scale: int | None = None

    def upscale(
        self, image: Image.Image, scale: int, *, tile: int, on_tile: OnTile | None = None
    ) -> Image.Image:
        size = (image.width * scale, image.height * scale)
        out = image.resize(size, RESAMPLERS[self.name])
        if on_tile is not None:
            on_tile(1, 1)
        return out


class ESPCNUpscaler(Upscaler):
    """genlab's ESPCN. A luma model upscales Y with the network and chroma with bicubic."""

    def __init__(self, model: ESPCN, name: str, device: str = "cpu"):
        self.model = model.to(device).eval()
        self.name = name
        self.native_scale = model.config.scale
        self.device = device

    def upscale(
        self, image: Image.Image, scale: int, *, tile: int, on_tile: OnTile | None = None
    ) -> Image.Image:
        s = self.native_scale
        assert s is not None
        rgb = np.asarray(image, dtype=np.uint8)
        if self.model.config.channels == "rgb":
            x = _to_tensor(rgb, self.device)
            out = upscale_tiled(self.model, x, s, tile=tile, on_tile=on_tile)
            return _to_image(out)
        # Chroma from a bicubic upscale: bicubic is linear, so its Cb/Cr equal bicubic
        # upscales of the input's Cb/Cr.
        base = np.asarray(
            image.resize((image.width * s, image.height * s), Image.Resampling.BICUBIC)
        )
        ycbcr = rgb_to_ycbcr(base)  # (H*s, W*s, 3) float64 in [0, 255]
        y = rgb_to_y(rgb) / 255.0  # (H, W) in [16, 235] / 255 — what the network trained on
        x = torch.from_numpy(y.astype(np.float32))[None, None].to(self.device)  # (1, 1, H, W)
        out = upscale_tiled(self.model, x, s, tile=tile, on_tile=on_tile)
        ycbcr[..., 0] = out[0, 0].clamp(0, 1).cpu().numpy().astype(np.float64) * 255.0
        return Image.fromarray(ycbcr_to_rgb(ycbcr), "RGB")


class SpandrelUpscaler(Upscaler):
    """A pretrained model loaded through spandrel's ImageModelDescriptor."""

    def __init__(self, descriptor, name: str):
        self.descriptor = descriptor.eval()
        self.name = name
        self.native_scale = int(descriptor.scale)
        self.input_channels = int(descriptor.input_channels)

    def upscale(
        self, image: Image.Image, scale: int, *, tile: int, on_tile: OnTile | None = None
    ) -> Image.Image:
        s = self.native_scale
        if self.input_channels == 1:
            array = np.asarray(image.convert("L"), dtype=np.uint8)[..., None]
        else:
            array = np.asarray(image, dtype=np.uint8)
        x = _to_tensor(array, self.descriptor.device).to(self.descriptor.dtype)

        def run(piece: torch.Tensor) -> torch.Tensor:
            return self.descriptor(piece)

        out = upscale_tiled(run, x, s, tile=tile, on_tile=on_tile)
        if out.shape[1] == 1:
            out = out.expand(-1, 3, -1, -1)
        return _to_image(out.float())


def load_upscaler(
    model: str, scale: int, *, allow_pickle: bool = False, device: str = "cpu"
) -> Upscaler:
    """`bicubic`, `lanczos`, `espcn` (the shipped network for `scale`) or a model file."""
    if model in RESAMPLERS:
        return Resampler(model)
    if model == SHIPPED:
        path = SHIPPED_DIR / f"espcn-x{scale}.safetensors"
        if not path.exists():
            shipped = sorted(p.stem for p in SHIPPED_DIR.glob("espcn-x*.safetensors"))
            raise InvalidRequest(
                "scale", scale, f"genlab ships {', '.join(shipped) or 'no espcn weights'} only"
            )
        from genlab.upscale.espcn import load_espcn

        return ESPCNUpscaler(load_espcn(path), path.stem, device)
    return load_model_file(Path(model), allow_pickle=allow_pickle, device=device)


def load_model_file(path: Path, *, allow_pickle: bool = False, device: str = "cpu") -> Upscaler:
    """A genlab ESPCN file or any SR model spandrel identifies; one-line errors otherwise."""
    suffix = path.suffix.lower()
    allowed = f"use {', '.join(MODEL_NAMES)} or an SR model file (.safetensors, .pth, .pt, .ckpt)"
    if not path.is_file():
        raise ModelLoadError(f"model {str(path)!r} is not a file or a known name; {allowed}")
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        raise ModelLoadError(
            f"model {path} is a pickle, which can run code when loaded; "
            "convert it to .safetensors or pass --allow-pickle if you trust it"
        )
    if suffix != ".safetensors" and suffix not in PICKLE_SUFFIXES:
        raise ModelLoadError(f"model {path} has suffix {suffix!r}; {allowed}")
    from safetensors import SafetensorError

    from genlab.upscale.espcn import is_espcn_file, load_espcn

    try:
        if is_espcn_file(path):
            return ESPCNUpscaler(load_espcn(path), path.name, device)
        descriptor = _spandrel_load(path, device)
    except SafetensorError as err:
        raise ModelLoadError(f"model {path} is not a readable safetensors file: {err}") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, KeyError) as err:
        line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelLoadError(f"model {path} could not be loaded: {line}") from None
    from spandrel import ImageModelDescriptor

    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.scale < 2:
        kind = getattr(descriptor, "purpose", type(descriptor).__name__)
        raise ModelLoadError(
            f"model {path} is a {descriptor.architecture.name} {kind} model at "
            f"x{descriptor.scale}, not a super-resolution model"
        )
    return SpandrelUpscaler(descriptor, path.name)


def _spandrel_load(path: Path, device: str):
    try:
        from spandrel import ModelLoader, UnsupportedModelError
    except ImportError:
        raise ModelLoadError(
            f"model {path} needs spandrel, which is not installed: pip install 'genlab[upscale]'"
        ) from None

    try:
        return ModelLoader(device=device).load_from_file(path)
    except UnsupportedModelError:
        raise ModelLoadError(
            f"model {path} is not an architecture spandrel knows "
            "(ESRGAN, Real-ESRGAN, SwinIR, HAT, DAT, … are)"
        ) from None
    except ValueError as err:
        raise ModelLoadError(f"model {path} could not be loaded: {err}") from None


@dataclass(frozen=True)
class Upscaled:
    image: Image.Image
    upscaler: str  # the name written in metadata, with any resize after the model
    notes: tuple[str, ...]


def upscale_image(
    image: Image.Image,
    upscaler: Upscaler,
    scale: int,
    *,
    tile: int = 0,
    on_tile: OnTile | None = None,
) -> Upscaled:
    """Upscale an RGB or RGBA image by `scale`; alpha is upscaled with bicubic.

    A model whose native scale is larger than `scale` runs at its native scale and
    its output is then reduced with Lanczos (antialiased) to the requested size, as
    A1111's extras tab does; a smaller native scale is refused rather than running
    the model twice, which compounds its artefacts.
    """
    check_scale(scale)
    if tile < 0:
        raise InvalidRequest("tile", tile, "must be 0 (no tiling) or a tile size in pixels")
    native = upscaler.native_scale or scale
    if native < scale:
        raise InvalidRequest(
            "scale", scale, f"model {upscaler.name} is x{native}; use --scale {native}"
        )
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    rgb = image.convert("RGB") if alpha is not None else image
    out = upscaler.upscale(rgb, native, tile=tile, on_tile=on_tile)
    name, notes = upscaler.name, []
    target = (image.width * scale, image.height * scale)
    if out.size != target:
        out = out.resize(target, Image.Resampling.LANCZOS)
        name = f"{upscaler.name} (x{native}, resized to x{scale} with lanczos)"
        notes.append(f"{upscaler.name} is x{native}; its output was resized to x{scale}")
    if alpha is not None:
        out = out.convert("RGBA")
        out.putalpha(alpha.resize(target, Image.Resampling.BICUBIC))
    return Upscaled(out, name, tuple(notes))


def check_scale(scale: int) -> None:
    if scale not in (2, 4):
        raise InvalidRequest("scale", scale, "must be 2 or 4")


# BT.601 studio-range YCbCr on [0, 255], the space SR papers measure luma in.
_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_OFFSET = np.array([16.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    return _OFFSET + (rgb.astype(np.float64) / 255.0) @ _TO_YCBCR.T


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    rgb = (ycbcr - _OFFSET) @ np.linalg.inv(_TO_YCBCR).T  # in [0, 1]
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _to_tensor(array: np.ndarray, device) -> torch.Tensor:
    # (H, W, C) uint8 → (1, C, H, W) float32 in [0, 1]
    return torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device)


def _to_image(tensor: torch.Tensor) -> Image.Image:
    # (1, 3, H, W) in [0, 1] → RGB image
    array = tensor[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(array), "RGB")


__all__ = [
    "DEFAULT_OVERLAP",
    "MODEL_NAMES",
    "ESPCNUpscaler",
    "Resampler",
    "SpandrelUpscaler",
    "Upscaled",
    "Upscaler",
    "load_model_file",
    "load_upscaler",
    "upscale_image",
]
