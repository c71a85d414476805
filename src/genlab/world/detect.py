"""Read a Shapes World scene back from pixels: which shapes, colours, sizes and where.

The detector inverts the renderer instead of learning: it knows every palette colour
and every lighting, so it explains the image border as one background colour under one
lighting, marks what that explanation does not cover as objects, and names each object
by the best-matching outline (intersection over union with the renderer's own unit
outlines) and the palette colour whose lit version is closest. It is the judge of the
prompt-adherence benchmark, so it must be exact on renders and degrade gracefully on
model outputs that only resemble them.

Colours cannot be told apart in monochrome images (only luma survives), so there the
detector reports `colour=None` and the style as monochrome.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from genlab.world.render import LUMA, OUTLINES, _light, outline_inks
from genlab.world.scene import SIZE_EXTENT, Scene, relation_holds
from genlab.world.vocab import COLOURS, LIGHTINGS

if TYPE_CHECKING:
    from numpy.typing import NDArray

WORK_SIDE = 128  # larger images are reduced first: enough pixels, bounded cost
# A pixel belongs to an object when it differs from the explained background by more
# than this (RGB, 0..1); watercolour paper varies by a few percent, shapes by far more.
FOREGROUND = 0.12
# Components smaller than this share of a small object's box are noise, not objects.
MIN_AREA_SHARE = 0.25
GREY_SPREAD = 3 / 255  # max channel spread of a clean monochrome render
NOISY = 0.01  # estimated noise sigma (0..1 scale) above which the image is smoothed


@dataclass(frozen=True)
class DetectedObject:
    shape: str
    colour: str | None  # None in monochrome images
    size: str
    x: float  # centre, 0..1 of the width
    y: float  # centre, 0..1 of the height
    shape_score: float  # IoU with the best outline, 0..1


@dataclass(frozen=True)
class Detection:
    objects: tuple[DetectedObject, ...]
    background: str | None
    lighting: str | None
    monochrome: bool


def detect(image: Image.Image) -> Detection:
    """Detect the shapes in a Shapes World-like RGB image."""
    # 1. Work at a bounded size, in float RGB
    image = image.convert("RGB")
    scale = WORK_SIDE / max(image.size)
    if scale < 1:
        size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    pixels, sigma = _denoise(np.asarray(image, np.float32) / 255)  # (H, W, 3)
    # Grey when even the most colourful pixels are grey, allowing for leftover noise;
    # the 99.5th percentile still lands inside the smallest object (~2% of the image).
    spread = float(np.percentile(np.ptp(pixels, axis=2), 99.5))
    monochrome = spread <= GREY_SPREAD + 4 * sigma

    # 2. Explain the border: which background colour under which lighting
    lit = _lit_palettes(pixels.shape[:2], monochrome)  # variant → (C, H, W, 3)
    variant, background = _explain_border(pixels, lit)
    expected = lit[variant][background]  # (H, W, 3)

    # 3. Objects are what the background does not explain. Lighting scales contrast
    # (night keeps ~40% of it), so the threshold follows the lit white-black gap.
    names = list(COLOURS)
    contrast = (
        (lit[variant][names.index("white")] - lit[variant][names.index("black")]).mean(axis=2)
        / (COLOURS["white"][0] - COLOURS["black"][0])
        * 255
    )  # (H, W), 1 at noon
    mask = np.abs(pixels - expected).max(axis=2) > FOREGROUND * contrast
    objects = tuple(
        _describe(component, pixels, lit[variant], expected, monochrome)
        for component in _components(mask)
    )
    return Detection(
        objects=objects,
        background=None if monochrome else names[background],
        lighting=variant.split(":")[0],
        monochrome=monochrome,
    )


def _denoise(pixels: NDArray) -> tuple[NDArray, float]:
    """A 3x3 median filter, only when the image is noisy (on a clean render it would
    round the corners the shape matcher needs), and the estimated noise sigma."""
    from scipy import ndimage

    smooth = ndimage.median_filter(pixels, size=(3, 3, 1))
    sigma = 1.4826 * float(np.median(np.abs(pixels - smooth)))  # robust noise estimate
    return (smooth, sigma) if sigma > NOISY else (pixels, sigma)


# -- lighting -------------------------------------------------------------------------


def _lit_palettes(shape: tuple[int, int], monochrome: bool) -> dict[str, NDArray]:
    """Every palette colour as it looks at every pixel under every lighting variant.

    Golden hour has its sun on the left or the right (the renderer draws a coin for
    it), so it contributes two variants."""
    palette = np.array(list(COLOURS.values()), np.float32) / 255  # (C, 3)
    flats = [np.broadcast_to(colour, (*shape, 3)).copy() for colour in palette]
    variants = {}
    for lighting in LIGHTINGS:
        sides = (0.0, 0.9) if lighting == "golden_hour" else (0.0,)
        for side in sides:
            # The renderer's only draw for lighting is `rng.random() < 0.5` for the sun.
            lit = np.stack([_light(flat, lighting, _FixedDraw(side)) for flat in flats])
            if monochrome:
                lit = np.repeat((lit @ LUMA)[..., None], 3, axis=3)
            variants[f"{lighting}:{side}"] = lit  # (C, H, W, 3)
    return variants


class _FixedDraw(random.Random):
    """A stand-in generator whose draws are fixed, to evaluate one lighting variant."""

    def __init__(self, value: float):
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def _explain_border(pixels: NDArray, lit: dict[str, NDArray]) -> tuple[str, int]:
    """(lighting variant, background index) that best matches the image border."""
    ring = np.zeros(pixels.shape[:2], bool)
    edge = max(1, min(pixels.shape[:2]) // 32)
    ring[:edge], ring[-edge:], ring[:, :edge], ring[:, -edge:] = True, True, True, True
    observed = pixels[ring]  # (N, 3)
    best = (np.inf, "", 0)
    for variant, palettes in lit.items():
        errors = np.median(np.abs(palettes[:, ring] - observed).sum(axis=2), axis=1)  # (C,)
        index = int(errors.argmin())
        if errors[index] < best[0]:
            best = (float(errors[index]), variant, index)
    return best[1], best[2]


# -- objects --------------------------------------------------------------------------


def _components(mask: NDArray) -> list[NDArray]:
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    side = min(mask.shape)
    smallest = MIN_AREA_SHARE * (2 * SIZE_EXTENT["small"] * side) ** 2
    found = []
    for index in range(1, count + 1):
        component = ndimage.binary_fill_holes(labels == index)
        if component.sum() >= smallest:
            found.append(component)
    return found


def _describe(
    component: NDArray, pixels: NDArray, lit: NDArray, expected: NDArray, monochrome: bool
) -> DetectedObject:
    height, width = component.shape
    ys, xs = np.nonzero(component)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    inside = _inside(component)
    alpha = _coverage(pixels, expected, inside)
    shape, score, (cx, cy, radius) = _best_outline(
        alpha, ((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2), component
    )
    extent = radius / min(height, width)
    size = min(SIZE_EXTENT, key=lambda s: abs(np.log(SIZE_EXTENT[s] / extent)))
    return DetectedObject(
        shape=shape,
        colour=None if monochrome else _colour(inside, pixels, lit),
        size=size,
        x=float(cx / width),
        y=float(cy / height),
        shape_score=score,
    )


def _inside(component: NDArray) -> NDArray:
    """The component shrunk away from its edge: no anti-aliased rim, no outline."""
    from scipy import ndimage

    inside = ndimage.binary_erosion(component, iterations=max(1, _thickness(component) // 4))
    return inside if inside.sum() >= 4 else component


def _coverage(pixels: NDArray, expected: NDArray, inside: NDArray) -> NDArray:
    """How much of each pixel the object covers (0..1), from how far the pixel moved
    from the background towards the object's own colour: anti-aliased edges carry
    sub-pixel shape information that a yes/no mask throws away."""
    colour = np.median(pixels[inside], axis=0)  # (3,)
    background = np.median(expected[inside], axis=0)  # (3,)
    # Outlined shapes have a rim in a shade of their colour (as the renderer paints
    # it); a pixel counts as covered if it moved towards either ink.
    coverage = []
    # Lighting can change which shade the renderer would pick, so both are tried.
    for ink in (colour, *outline_inks(colour)):
        towards = ink - background
        moved = ((pixels - expected) * towards).sum(axis=2) / max(float(towards @ towards), 1e-6)
        coverage.append(np.clip(moved, 0, 1))
    return np.maximum(*coverage)  # (H, W)


def _template(shape: str, size: tuple[int, int], cx: float, cy: float, radius: float) -> NDArray:
    """The renderer's anti-aliased coverage of `shape` with this box (0..1)."""
    width, height = size
    canvas = Image.new("L", (width * 4, height * 4), 0)
    outline = OUTLINES[shape]
    points = [((cx + px * radius) * 4, (cy + py * radius) * 4) for px, py in outline]
    ImageDraw.Draw(canvas).polygon(points, fill=255)
    return np.asarray(canvas.reduce(4), np.float32) / 255


# Box refinements tried around the pixel box: centre shifts (px) and radius factors.
_SHIFTS = (-0.5, 0.0, 0.5)
_FACTORS = (0.92, 1.0, 1.08)


def _best_outline(
    alpha: NDArray, box: tuple[float, float, float], component: NDArray
) -> tuple[str, float, tuple[float, float, float]]:
    """The outline and box whose anti-aliased coverage best matches `alpha` near the
    component (least squared difference); the score is the soft IoU of that match."""
    from scipy import ndimage

    near = ndimage.binary_dilation(component, iterations=2)
    # Work in a window around the box: templates are drawn only where they can land.
    cx0, cy0, r0 = (float(v) for v in box)
    reach = r0 * max(_FACTORS) + 3
    x0, y0 = max(0, int(cx0 - reach)), max(0, int(cy0 - reach))
    x1 = min(alpha.shape[1], int(np.ceil(cx0 + reach)))
    y1 = min(alpha.shape[0], int(np.ceil(cy0 + reach)))
    target = np.where(near, alpha, 0)[y0:y1, x0:x1]
    size = (x1 - x0, y1 - y0)
    best = (np.inf, "", 0.0, box)
    for shape, dx, dy, factor in itertools.product(OUTLINES, _SHIFTS, _SHIFTS, _FACTORS):
        candidate = (cx0 + dx, cy0 + dy, r0 * factor)
        template = _template(shape, size, candidate[0] - x0, candidate[1] - y0, candidate[2])
        error = float(((template - target) ** 2).sum())
        if error < best[0]:
            overlap = np.minimum(template, target).sum()
            union = max(float(np.maximum(template, target).sum()), 1e-6)
            best = (error, shape, float(overlap / union), candidate)
    return best[1], best[2], best[3]


def _colour(inside: NDArray, pixels: NDArray, lit: NDArray) -> str:
    """The palette colour whose lit version best matches the object's inside; the
    median resists watercolour blotches."""
    observed = np.median(pixels[inside], axis=0)  # (3,)
    predicted = np.median(lit[:, inside], axis=1)  # (C, 3)
    distances = np.abs(predicted - observed).sum(axis=1)
    return list(COLOURS)[int(distances.argmin())]


def _thickness(component: NDArray) -> int:
    ys, xs = np.nonzero(component)
    return int(min(xs.max() - xs.min(), ys.max() - ys.min()) + 1)


def matches(scene: Scene, found: Detection) -> bool:
    """Whether a detection shows exactly `scene`'s objects (shape, colour, size; colour
    is not judged in monochrome, where it cannot be recovered) with its relations.

    Each scene object is matched to the nearest detection of the same kind, and the
    scene's relations are checked on the detected centres (box centres, as the scene's
    are, so the same margin applies)."""
    mono = scene.style == "monochrome"

    def kind(shape: str, colour: str | None, size: str) -> tuple[str, str | None, str]:
        return shape, None if mono else colour, size

    want = Counter(kind(o.shape, o.colour, o.size) for o in scene.objects)
    got = Counter(kind(o.shape, o.colour, o.size) for o in found.objects)
    if want != got:
        return False
    free = list(found.objects)
    matched = []
    for obj in scene.objects:
        pool = [
            d
            for d in free
            if kind(d.shape, d.colour, d.size) == kind(obj.shape, obj.colour, obj.size)
        ]
        best = min(pool, key=lambda d: (d.x - obj.x) ** 2 + (d.y - obj.y) ** 2)
        free.remove(best)
        matched.append(best)
    return all(
        relation_holds(matched[r.subject_index], r.relation, matched[r.object_index])
        for r in scene.relations
    )
