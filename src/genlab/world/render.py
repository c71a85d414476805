"""Draw a Shapes World scene: anti-aliased shapes, then style and lighting.

Each shape is drawn as a polygon mask at SUPERSAMPLE times the output resolution in a
window around its box only, then box-reduced: the reduced mask is the exact fraction of
each output pixel the shape covers, which gives clean edges without a full-size
supersampled canvas. Colours are composited in float at output size; lighting comes
last so, at noon, a flat shape's inside keeps its palette colour exactly (a detector
will classify colours later).

numpy and Pillow only: the procedural engine must not pay for torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from genlab.core.errors import InvalidRequest
from genlab.core.request import MAX_SIDE
from genlab.world.scene import Scene, ShapeObject
from genlab.world.vocab import COLOURS

SUPERSAMPLE = 4  # 16 samples per pixel: edges get 17 coverage levels
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, as PIL's "L" mode


def _normalise(points: np.ndarray) -> np.ndarray:
    """Centre the outline's box on 0 and scale its longer half-side to 1."""
    low, high = points.min(axis=0), points.max(axis=0)
    return (points - (low + high) / 2) / ((high - low).max() / 2)


def _regular(corners: int, start_deg: float, radii: tuple[float, ...] = (1.0,)) -> np.ndarray:
    angles = np.radians(start_deg + np.arange(corners) * 360 / corners)
    r = np.resize(np.array(radii), corners)
    return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, -y], axis=1)  # the classic curve has y up; images have y down


# Unit outlines in image orientation (y down), each box centred with half-side 1.
OUTLINES: dict[str, np.ndarray] = {
    "circle": _normalise(_regular(120, 0)),
    "square": _normalise(_regular(4, 45)),
    "triangle": _normalise(_regular(3, -90)),
    "star": _normalise(_regular(10, -90, (1.0, 0.45))),
    "heart": _normalise(_heart()),
    "hexagon": _normalise(_regular(6, 0)),
}


def render(
    scene: Scene, width: int, height: int, *, rng: random.Random | None = None
) -> Image.Image:
    """An RGB image of `scene`; `rng` drives watercolour texture and light direction
    (default: seeded from the scene itself, so the same scene gives the same pixels)."""
    _check_side("width", width)
    _check_side("height", height)
    rng = rng if rng is not None else random.Random(scene_seed(scene))
    noise = np.random.default_rng(rng.getrandbits(64))
    canvas = np.empty((height, width, 3), np.float32)  # (H, W, 3) in 0..1
    canvas[...] = _rgb(scene.background)
    if scene.style == "watercolour":  # uneven paper
        canvas *= (0.96 + 0.06 * _smooth_noise(noise, height, width, 8))[..., None]
    for obj in scene.objects:
        _paint(canvas, obj, scene.style, noise, _rgb(scene.background))
    canvas = _light(canvas, scene.lighting, rng)
    if scene.style == "monochrome":
        canvas = np.repeat((canvas @ LUMA)[..., None], 3, axis=2)
    pixels = np.clip(np.rint(canvas * 255), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def scene_seed(scene: Scene) -> int:
    text = json.dumps(scene.to_dict(), sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _check_side(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value % 8:
        raise InvalidRequest(name, value, f"must be a multiple of 8 from 8 to {MAX_SIDE}")
    if not 8 <= value <= MAX_SIDE:
        raise InvalidRequest(name, value, f"must be a multiple of 8 from 8 to {MAX_SIDE}")


def _rgb(colour: str) -> np.ndarray:
    return np.array(COLOURS[colour], np.float32) / 255


def _smooth_noise(noise: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Blotchy noise in 0..1: a coarse random grid smoothly upscaled."""
    grid = noise.random((cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, "F").resize((width, height), Image.BICUBIC)).clip(0, 1)


# -- shapes --------------------------------------------------------------------------


def _paint(
    canvas: np.ndarray,
    obj: ShapeObject,
    style: str,
    noise: np.random.Generator,
    background: np.ndarray,
) -> None:
    height, width = canvas.shape[:2]
    cx, cy = obj.x * width, obj.y * height
    radius = obj.extent * min(width, height)
    watercolour = style == "watercolour"
    # The window covers the box plus room for soft watercolour edges.
    pad = radius * 0.2 + 2 if watercolour else 2
    x0, y0 = max(0, math.floor(cx - radius - pad)), max(0, math.floor(cy - radius - pad))
    x1 = min(width, math.ceil(cx + radius + pad))
    y1 = min(height, math.ceil(cy + radius + pad))
    if x1 <= x0 or y1 <= y0:
        return
    outline = OUTLINES[obj.shape]
    if watercolour:  # hand-painted edges wobble a little
        phase = noise.uniform(0, 2 * np.pi, 2)
        turn = np.linspace(0, 2 * np.pi, len(outline), endpoint=False)
        outline = (
            outline
            * (1 + 0.03 * np.sin(3 * turn + phase[0]) + 0.02 * np.sin(7 * turn + phase[1]))[:, None]
        )
    points = [
        ((cx + px * radius - x0) * SUPERSAMPLE, (cy + py * radius - y0) * SUPERSAMPLE)
        for px, py in outline
    ]
    size = ((x1 - x0) * SUPERSAMPLE, (y1 - y0) * SUPERSAMPLE)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon(points, fill=255)
    if watercolour:
        mask = mask.filter(ImageFilter.GaussianBlur(radius * SUPERSAMPLE * 0.05))
    cover = _reduce(mask)  # (h, w) coverage 0..1
    region = canvas[y0:y1, x0:x1]
    colour = _rgb(obj.colour)
    if watercolour:
        h, w = cover.shape
        # Pigment pools at the rim and thins in blotches inside.
        inner = _reduce(mask.filter(ImageFilter.GaussianBlur(radius * SUPERSAMPLE * 0.3)))
        rim = np.clip(cover - inner, 0, 1)[..., None]
        alpha = cover * (0.8 + 0.2 * _smooth_noise(noise, h, w, 5))
        paint = colour * (1 - 0.45 * rim)
        region[...] = region * (1 - alpha[..., None]) + paint * alpha[..., None]
        return
    region[...] = region * (1 - cover[..., None]) + colour * cover[..., None]
    if style == "outlined":
        stroke = Image.new("L", size, 0)
        line = max(1, round(0.12 * radius * SUPERSAMPLE))
        ImageDraw.Draw(stroke).polygon(points, outline=255, width=line)
        edge = np.minimum(_reduce(stroke), cover)[..., None]
        region[...] = region * (1 - edge) + outline_colour(colour, background) * edge


def outline_inks(colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A dark shade and a light tint of `colour`, the two candidate outline inks."""
    return colour * 0.3, colour + 0.6 * (1 - colour)


def outline_colour(colour: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The border of an outlined shape: a shade of its own colour keeps the hue
    readable. Of a dark shade and a light tint, the one that stands out most from
    both the fill and the background is used, so the outline never vanishes (the
    detector measures shapes by what it can see)."""
    inks = outline_inks(colour)
    visibility = [
        min(np.linalg.norm(ink - colour), np.linalg.norm(ink - background)) for ink in inks
    ]
    return inks[int(np.argmax(visibility))]


def _reduce(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask.reduce(SUPERSAMPLE), np.float32) / 255


# -- lighting -------------------------------------------------------------------------


def _light(canvas: np.ndarray, lighting: str, rng: random.Random) -> np.ndarray:
    height, width = canvas.shape[:2]
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]  # 0 at the top
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    if lighting == "noon":  # neutral: palette colours stay exact
        return canvas
    if lighting == "golden_hour":
        # A low sun on one side: warm everything, glow strongest towards the sun.
        toward_sun = xs if rng.random() < 0.5 else 1 - xs
        glow = toward_sun**2 * (0.6 + 0.4 * ys)
        warm = np.array([1.08, 0.95, 0.78], np.float32)
        return np.clip(canvas * warm + 0.18 * glow * np.array([1.0, 0.62, 0.22], np.float32), 0, 1)
    if lighting == "sunset":
        # Sun at the horizon: darker, redder sky above, orange-pink glow below.
        tint = np.array([1.05, 0.8, 0.78], np.float32)
        glow = ys**2 * np.array([0.22, 0.09, 0.07], np.float32)
        return np.clip(canvas * tint * (0.78 + 0.22 * ys) + glow, 0, 1)
    if lighting == "overcast":
        grey = (canvas @ LUMA)[..., None]
        flat = 0.65 * canvas + 0.35 * grey
        return np.clip(flat * 0.88 * np.array([0.97, 1.0, 1.04], np.float32), 0, 1)
    if lighting == "night":
        # Moonlight: dim, shifted to blue, darker towards the corners.
        dist = (xs - 0.5) ** 2 + (ys - 0.5) ** 2
        vignette = 1 - 0.6 * dist
        dark = canvas * 0.42 * np.array([0.7, 0.85, 1.2], np.float32)
        return np.clip(dark * vignette + np.array([0.01, 0.02, 0.06], np.float32), 0, 1)
    raise InvalidRequest("lighting", lighting, "unknown")  # Scene validation prevents this
