"""The image tools as the CLI and the studio both run them: style transfer, recolour,
palette and upscale.

Each takes its request (genlab.core.tools) and the images it works on, reports
progress as StepEvents (the type generation uses), and returns the capability's
result; `*_params` give the parameters written into the output's metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.errors import InvalidRequest
from genlab.core.result import StepCallback, StepEvent
from genlab.core.tools import (
    MAX_PALETTE_COLOURS,
    RECOLOR_METHODS,
    STYLE_OPTIONS,
    PaletteRequest,
    RecolorRequest,
    StyleRequest,
    UpscaleRequest,
)

if TYPE_CHECKING:
    from PIL import Image

    from genlab.transfer.palette import Palette
    from genlab.transfer.recolor import Recolored
    from genlab.transfer.style import StyleConfig, StyleResult
    from genlab.upscale.loaders import Upscaled

__all__ = [
    "MAX_PALETTE_COLOURS",
    "RECOLOR_METHODS",
    "STYLE_OPTIONS",
    "PaletteRequest",
    "RecolorRequest",
    "StyleRequest",
    "UpscaleRequest",
]


# -- recolour and palette -----------------------------------------------------------


def target_palette(spec: str, *, files: bool) -> Palette:
    """A palette from a preset name or '#hex,…'; with `files` (the CLI), also a palette
    file. The studio never reads one: that would be a path on the server."""
    from genlab.transfer.palette import palette_from_text, parse_palette

    return parse_palette(spec) if files else palette_from_text(spec)


def recolor(
    request: RecolorRequest,
    image: Image.Image,
    *,
    like: Image.Image | None = None,
    palette: Palette | None = None,
) -> Recolored:
    """Recolour `image` like the reference image `like` or onto `palette` (the
    request's palette, read with `target_palette`)."""
    from genlab.transfer.recolor import recolor as run

    if request.like is not None and like is None:
        raise InvalidRequest("like", request.like, "the reference image is missing")
    if request.palette is not None and palette is None:
        palette = target_palette(request.palette, files=False)
    return run(
        image,
        like=like if request.like is not None else None,
        palette=palette if request.palette is not None else None,
        method=request.method if request.like is not None else "reinhard",
        strength=request.strength,
        regrain=request.regrain,
        seed=request.seed,
    )


def extract_palette(request: PaletteRequest, image: Image.Image) -> tuple[Palette, Image.Image]:
    """The image's main colours (only its visible pixels count) and their swatch."""
    from genlab.transfer.colour import split_alpha
    from genlab.transfer.palette import extract_palette as extract
    from genlab.transfer.palette import render_swatch

    rgb, alpha = split_alpha(image)
    found = extract(
        rgb, request.k, mask=alpha > 0 if alpha is not None else None, seed=request.seed
    )
    return found, render_swatch(found)


def palette_presets() -> dict[str, Any]:
    from genlab.transfer.presets import PRESETS

    return PRESETS


# -- upscale ------------------------------------------------------------------------


def upscale_models() -> tuple[str, ...]:
    """The upscalers known by name: the resamplers and the shipped ESPCN."""
    from genlab.upscale.loaders import MODEL_NAMES

    return MODEL_NAMES


def upscaler_scales() -> list[tuple[str, int]]:
    """(name, largest scale) per upscaler: resamplers scale freely (A1111 lists 4)."""
    from genlab.upscale.loaders import RESAMPLERS, SHIPPED

    return [*((name, 4) for name in RESAMPLERS), (SHIPPED, 4)]


def upscale(
    request: UpscaleRequest, image: Image.Image, *, on_step: StepCallback | None = None
) -> tuple[int, Upscaled]:
    """Load the request's upscaler on its device and run it tile by tile (each tile a
    step). Returns the scale used (the request's, else the model's own, else 2)."""
    from genlab.devices import pick_device
    from genlab.upscale.loaders import check_scale, load_upscaler, upscale_image

    upscaler = load_upscaler(
        request.model,
        request.scale or 2,
        allow_pickle=request.allow_pickle,
        device=pick_device(request.device),
    )
    scale = request.scale or upscaler.native_scale or 2
    check_scale(scale)

    def on_tile(done: int, total: int) -> None:
        if on_step is not None:
            on_step(StepEvent(done, total, detail=f"tile {done}/{total}"))

    return scale, upscale_image(image, upscaler, scale, tile=request.tile, on_tile=on_tile)


def upscale_params(request: UpscaleRequest, scale: int, result: Upscaled) -> dict[str, object]:
    return {"scale": scale, "upscaler": result.upscaler, "tile": request.tile}


# -- style transfer -----------------------------------------------------------------


def style_config(request: StyleRequest) -> StyleConfig:
    """The request as transfer.style's config (which checks the numbers and layers)."""
    from genlab.transfer.style import StyleConfig

    extra: dict[str, Any] = {"frame_every": request.frame_every}
    if request.device is not None:
        extra["device"] = request.device
    return StyleConfig(**request.options, **extra)


def style_work(
    request: StyleRequest, content: Image.Image, style: Image.Image
) -> list[tuple[int, tuple[int, int]]]:
    """Check the inputs against the request (sizes at every scale, before any work);
    returns each scale's loss evaluations and output size, coarse first."""
    from genlab.transfer.style import check_inputs

    config = style_config(request)
    sizes, _ = check_inputs(content, style, config)
    budget = [config.coarse_iterations] * (config.scales - 1) + [config.iterations]
    return list(zip(budget, sizes))


def stylize(
    request: StyleRequest,
    content: Image.Image,
    style: Image.Image,
    *,
    weights: Path | None = None,
    on_step: StepCallback | None = None,
) -> StyleResult:
    """Repaint `content` in the style of `style`. Every loss evaluation is a step; every
    `frame_every` evaluations a step with a preview of the image so far."""
    from genlab.transfer.style import StyleStep
    from genlab.transfer.style import stylize as run

    config = style_config(request)
    total = config.coarse_iterations * (config.scales - 1) + config.iterations

    def step(info: StyleStep) -> None:
        if on_step is not None:
            on_step(StepEvent(info.evaluation, info.total, detail=_style_detail(info)))

    def frame(evaluation: int, image: Image.Image) -> None:
        if on_step is not None:
            on_step(StepEvent(evaluation, total, preview=lambda: [image], detail="frame"))

    return run(content, style, config, weights=weights, on_step=step, on_frame=frame)


def _style_detail(step: Any) -> str:
    losses = step.losses
    return (
        f"scale {step.scale}/{step.scales} {step.width}x{step.height}  "
        f"loss {losses['loss']:.3g} (content {losses['content']:.3g}, "
        f"style {losses['style']:.3g}, tv {losses['tv']:.3g})"
    )
