"""A1111's hires fix and tiling, for the diffusers engine.

Hires fix: the first pass makes the image at the request's size; it is upscaled to
the hires size, in latent space ("Latent …": the first pass's latents interpolated, as
A1111 does) or as an image (a resampler or genlab's ESPCN), and an img2img pass at
`hires_denoise` draws the detail back in.

A latent start goes through the img2img pipeline as its start latents (the pipeline
would otherwise VAE-encode an image): `fill_start_latents` swaps them in where the
pipeline noises its init latents, which works for any latent channel count (diffusers
takes latents as `image` only when they have 4 channels).

Tiling: every Conv2d of the UNet and the VAE pads circularly (A1111's "Tiling"), so
the image wraps around at its edges and tiles without a seam.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from genlab.core.samplers import LATENT_UPSCALERS
from genlab.engines.inpaint import fill_start_latents

if TYPE_CHECKING:
    from PIL import Image

# PIL filters for the image upscalers that are plain resampling.
_RESAMPLE = {"Lanczos": "LANCZOS", "Nearest": "NEAREST", "bicubic": "BICUBIC"}


def is_latent(upscaler: str) -> bool:
    return upscaler in LATENT_UPSCALERS


def upscale_latents(latents: Any, size: tuple[int, int], upscaler: str) -> Any:
    """`latents` (B, C, h, w) interpolated to `size` (width, height) in latent pixels."""
    import torch

    mode, antialias = LATENT_UPSCALERS[upscaler]
    width, height = size
    out = torch.nn.functional.interpolate(
        latents.float(), size=(height, width), mode=mode, antialias=antialias
    )
    return out.to(latents.dtype)


def upscale_images(
    images: list[Image.Image], size: tuple[int, int], upscaler: str, device: str
) -> list[Image.Image]:
    """Each image upscaled to `size` (width, height) with an image upscaler."""
    from PIL import Image

    if upscaler in _RESAMPLE:
        resample = getattr(Image.Resampling, _RESAMPLE[upscaler])
        return [image.resize(size, resample) for image in images]
    # ESPCN ships at x2 and x4: the smallest that reaches the size, then Lanczos to it
    # (A1111 resizes an upscaler's output to the hires size the same way).
    from genlab.upscale.loaders import load_upscaler

    ratio = max(size[0] / images[0].width, size[1] / images[0].height)
    scale = 2 if ratio <= 2 else 4
    model = load_upscaler(upscaler, scale, device=device)
    out = [model.upscale(image, scale, tile=0) for image in images]
    return [image if image.size == size else image.resize(size, Image.LANCZOS) for image in out]


def start_from(scheduler: Any, latents: Any) -> None:
    """The img2img pipeline using `scheduler` starts from `latents` (B, C, h, w)."""
    fill_start_latents(scheduler, lambda init: latents.to(init.device, init.dtype))


@contextlib.contextmanager
def circular_padding(*modules: Any) -> Iterator[None]:
    """Every Conv2d in `modules` pads circularly while the block runs."""
    import torch

    convs = [
        layer
        for module in modules
        for layer in module.modules()
        if isinstance(layer, torch.nn.Conv2d)
    ]
    before = [conv.padding_mode for conv in convs]
    for conv in convs:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv, mode in zip(convs, before):
            conv.padding_mode = mode
