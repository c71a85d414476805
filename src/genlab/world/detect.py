"""Read a Shapes World scene back from pixels: which shapes, colours, sizes and where.

The detector inverts the renderer instead of learning: it knows every palette colour
and every lighting, so it explains the image border as one background colour under one
lighting, marks what that explanation does not cover as objects, and names each object
by the best-matching outline and the palette colour whose lit version is closest. It is
the judge of the prompt-adherence benchmark, so it must be exact on renders and degrade
gracefully on model outputs that only resemble them: those are softer (as if blurred by
1-1.5 px at 64 px), a little noisy and shifted in colour. So outlines are the renderer's
own anti-aliased ones blurred by the image's blur, which all objects estimate together;
noisy images are smoothed by a known Gaussian, which counts as blur; objects that blur
bridged are split at the faint saddle between them; and colours are unmixed from the
background by the coverage the fitted outline predicts.

Colours cannot be told apart in monochrome images (only luma survives), so there the
detector reports `colour=None` and the style as monochrome.

As the judge of a benchmark it should agree with a person, so its tolerances are
perceptual (the "v2" tolerances): an image is grey when no part of it is more than two
just-noticeable differences (CIELAB chroma) from grey; backgrounds are matched by ΔE*ab
and colours named by the smallest CIEDE2000 difference; outlines are read with colour
slightly softened, as the eye (and JPEG) resolve colour more coarsely than lightness;
and shapes that fit almost equally well (a 9 px hexagon and circle) are all reported.
The first judge compared raw RGB channels (a 3/255 channel spread made an image
coloured), so a tint of a few levels, invisible to anyone, turned a grey picture into a
coloured one; its "v1" tolerances remain for comparison (`detect(image,
tolerances="v1")` gives exactly its detections).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from genlab.core.errors import InvalidRequest
from genlab.world.render import LUMA, OUTLINES, _light, outline_inks
from genlab.world.scene import SIZE_EXTENT, Scene, ShapeObject, relation_holds
from genlab.world.vocab import COLOURS, LIGHTINGS

if TYPE_CHECKING:
    from numpy.typing import NDArray

WORK_SIDE = 128  # larger images are reduced first: enough pixels, bounded cost
# A pixel seeds an object when it differs from the explained background by more than
# this (RGB, 0..1); watercolour paper varies by a few percent, shapes by far more.
FOREGROUND = 0.12
# Around a seed, the object extends down to this share of FOREGROUND: a blurred edge
# fades gradually, and cutting it at the seed level would shrink soft small objects.
GROW = 0.5
# Beyond lighting, the thresholds stay this many noise sigmas above the leftover noise.
NOISE_FLOOR = 4.0
# Components smaller than this share of a small object's box are noise, not objects.
MIN_AREA_SHARE = 0.25
# Outline shades whose visibility is within this ratio are a tie the lighting may flip.
TIE = 0.85
DENOISE = 1.0  # sigma (px) of the Gaussian that smooths noisy images
# Blur sigmas (work pixels) the templates are tried with. Model outputs look like renders
# blurred by 1-1.5 px at 64 px; denoising adds DENOISE on top, in quadrature.
BLURS = (0.0, 0.5, 0.8, 1.1, 1.4, 1.7, 2.1, 2.6)
# Blur bridges objects that are only GAP apart with a faint saddle. A peak of the
# difference from the background that reaches a higher one only through a dip below
# SADDLE of itself is an object of its own: inside one object the difference never
# dips that low between two places (a watercolour wash keeps 80% of its pigment, and an
# outline's fill reaches its rim without a dip).
SADDLE = 0.5

# CIELAB's just-noticeable difference, ΔE*ab ≈ 2.3 (Mahy et al. 1994; Sharma, Digital
# Color Imaging Handbook): two colours closer than this look the same to most people.
JND = 2.3
# The largest gain from an RGB change (0..1) to a change of a* and b*: ~292 ΔE per unit,
# at dark greys (the Jacobian's top singular value; 250-290 over the range of greys).
CHROMA_GAIN = 300.0
# Pure noise's chroma has its 99.5th percentile ~3.3 sigmas out (a Rayleigh-like tail).
CHROMA_NOISE_SIGMAS = 3.3
# JPEG's YCbCr (ITU-R BT.601, full range): luma and two colour differences.
YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    np.float32,
)
YCC_INVERSE = np.linalg.inv(YCC).astype(np.float32)


@dataclass(frozen=True)
class Tolerances:
    """How the detector, as a judge, decides what a person would decide alike.

    - `perceptual`: colours are compared in CIELAB (ΔE), not as RGB channel values.
    - `grey`: the most a grey image may differ from grey: its chroma C*ab (ΔE from the
      grey of the same lightness) when perceptual, else its channel spread (0..1).
    - `noisy`: the estimated noise sigma (0..1) above which the image is smoothed.
    - `chroma_blur`: sigma, in the image's own pixels, of a blur of the colour
      difference channels alone. People resolve colour more coarsely than lightness
      (which is why JPEG keeps colour at half resolution), so outlines are read from
      sharp lightness and slightly soft colour.
    - `shape_tie`, `shape_tie_share`: every shape whose outline's squared error is
      within `shape_tie` times the best fit's, and exceeds it by at most
      `shape_tie_share` of the object's own squared coverage, is reported as what the
      object may be (at 9 px a hexagon and a circle differ by less than JPEG moves
      them). The share keeps a blob that no outline fits from matching several shapes
      at once. A tie of 1 reports the best only.
    """

    name: str
    perceptual: bool
    grey: float
    noisy: float
    chroma_blur: float = 0.0
    shape_tie: float = 1.0
    shape_tie_share: float = 0.0


TOLERANCES: dict[str, Tolerances] = {
    # The first judge: a clean monochrome render's channels differ by at most 3/255.
    "v1": Tolerances("v1", perceptual=False, grey=3 / 255, noisy=0.01),
    # Grey is what looks grey: within two JNDs of neutral. Tints the eye cannot see,
    # +4/255 on one channel (chroma <= 3.7), stay grey; the palette's least colourful
    # colour, brown, has chroma 32, and its neutral colours under overcast light (3-5
    # from grey) are told apart by how well that light explains them (_looks_grey).
    # Noise of sigma 0.01 (40 dB PSNR) is left unsmoothed: smoothing would cost small
    # shapes their corners, and the thresholds' noise floor keeps specks out. The
    # chroma blur undoes much of what JPEG's halved colour resolution moves. Blur and
    # tie were chosen on seeds 0-8 of benchmarks/judge_validation.py (JPEG quality 90:
    # 98.8% of verdicts kept; 3 of 1,184 wrong renders accepted, all circle-hexagon);
    # where a second shape fits within the ratio, it exceeds the best fit by a median
    # 0.13% of the object's squared coverage on JPEG renders (90th percentile 0.5%) but
    # 1.1% on the shipped model's blobs (4.4%), hence the share. docs/models/builtin.md
    # gives figures on other seeds.
    "v2": Tolerances(
        "v2",
        perceptual=True,
        grey=2 * JND,
        noisy=0.015,
        chroma_blur=0.8,
        shape_tie=1.25,
        shape_tie_share=0.005,
    ),
}
DEFAULT_TOLERANCES = "v2"


def tolerances_named(name: str) -> Tolerances:
    """The tolerances called `name`, or a one-line error naming the allowed ones."""
    if not isinstance(name, str) or name not in TOLERANCES:
        raise InvalidRequest("tolerances", name, f"must be one of {', '.join(TOLERANCES)}")
    return TOLERANCES[name]


@dataclass(frozen=True)
class DetectedObject:
    shape: str
    colour: str | None  # None in monochrome images
    size: str
    x: float  # centre, 0..1 of the width
    y: float  # centre, 0..1 of the height
    shape_score: float  # soft IoU with the best (blurred) outline, 0..1
    shapes: tuple[str, ...] = ()  # every shape that fits within the tie, best first


@dataclass(frozen=True)
class Detection:
    objects: tuple[DetectedObject, ...]
    background: str | None
    lighting: str | None
    monochrome: bool


def detect(image: Image.Image, *, tolerances: str = DEFAULT_TOLERANCES) -> Detection:
    """Detect the shapes in a Shapes World-like RGB image, judging grey and colours
    by the named `tolerances` ("v2", perceptual, unless comparing with "v1")."""
    rules = tolerances_named(tolerances)
    # 1. Work at a bounded size, in float RGB
    image = image.convert("RGB")
    scale = WORK_SIDE / max(image.size)
    if scale < 1:
        size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    pixels, noise = _denoise(np.asarray(image, np.float32) / 255, rules.noisy)  # (H, W, 3)
    # JPEG halves colour resolution in the image's own pixels, which reduction shrinks.
    pixels = _soften_chroma(pixels, rules.chroma_blur * min(scale, 1.0))
    monochrome = _looks_grey(pixels, noise, rules)

    # 2. Explain the border: which background colour under which lighting
    lit = _lit_palettes(pixels.shape[:2], monochrome)  # variant → (C, H, W, 3)
    _, variant, background = _explain_border(pixels, monochrome, rules)
    expected = lit[variant][background]  # (H, W, 3)

    # 3. Objects are what the background does not explain. Lighting scales contrast
    # (night keeps ~40% of it), so the threshold follows the lit white-black gap.
    names = list(COLOURS)
    contrast = (
        (lit[variant][names.index("white")] - lit[variant][names.index("black")]).mean(axis=2)
        / (COLOURS["white"][0] - COLOURS["black"][0])
        * 255
    )  # (H, W), 1 at noon
    difference = np.abs(pixels - expected).max(axis=2)  # (H, W)
    components = _components(difference, FOREGROUND * contrast, NOISE_FLOOR * noise)

    # 4. Match outlines: every object votes for the image's blur, then each takes the
    # best outline under that blur
    coverages = [_coverage(pixels, expected, _deepest(c)) for c in components]
    searches = [
        _search(alpha, component, _others(components, i))
        for i, (alpha, component) in enumerate(zip(coverages, components, strict=True))
    ]
    blur = _common_blur(searches)
    objects = tuple(
        _describe(
            _refine(search, blur, rules), search, pixels, expected, lit[variant], monochrome, rules
        )
        for search in searches
    )
    return Detection(
        objects=objects,
        background=None if monochrome else names[background],
        lighting=variant.split(":")[0],
        monochrome=monochrome,
    )


def _denoise(pixels: NDArray, noisy: float) -> tuple[NDArray, float]:
    """The pixels, smoothed by a Gaussian only when the image is noisy, and the noise
    sigma left in them. Smoothing is a known blur, which the outline matcher allows
    for like any other; on a clean render it would only soften edges."""
    from scipy import ndimage

    residual = pixels - ndimage.median_filter(pixels, size=(3, 3, 1))
    sigma = 1.4826 * float(np.median(np.abs(residual)))  # robust noise estimate
    if sigma <= noisy:
        return pixels, sigma
    # Averaging over a Gaussian of sigma s leaves 1 / (2 sqrt(pi) s) of white noise.
    smooth = ndimage.gaussian_filter(pixels, (DENOISE, DENOISE, 0))
    return smooth, sigma / (2 * np.sqrt(np.pi) * DENOISE)


def _looks_grey(pixels: NDArray, noise: float, rules: Tolerances) -> bool:
    """Whether the image is grey: even its most colourful pixels are, allowing for the
    noise left in them. The 99.5th percentile still lands inside the smallest object
    (~2% of the image), so one coloured object is enough to make the image coloured."""
    if not rules.perceptual:
        # The spread of three noisy channels rarely exceeds 6 sigma.
        spread = float(np.percentile(np.ptp(pixels, axis=2), 99.5))
        return spread <= rules.grey + 6 * noise
    chroma = np.hypot(*_lab(pixels)[..., 1:].transpose(2, 0, 1))  # (H, W)
    # The chroma blur lowers the noise left in the colour channels further, but by how
    # much depends on what smoothing came before; the full allowance errs towards grey,
    # and the border comparison below still tells a neutral scene in coloured light.
    allowance = CHROMA_NOISE_SIGMAS * CHROMA_GAIN * noise
    if float(np.percentile(chroma, 99.5)) > rules.grey + allowance:
        return False
    # Grey to the eye, but the renderer's overcast light tints its neutral colours
    # blue by 3-5 ΔE: a white, grey and black scene in that light is a coloured scene
    # when the lit palette explains its border better than any grey does. Ties (a
    # grey render of a white background at noon) are grey; the margin is a fifth of a
    # JND, above what 8-bit rounding moves.
    coloured, _, _ = _explain_border(pixels, False, rules)
    grey, _, _ = _explain_border(pixels, True, rules)
    return not coloured < grey - JND / 5


def _soften_chroma(pixels: NDArray, sigma: float) -> NDArray:
    """The pixels with their colour-difference channels (Cb, Cr) blurred by `sigma`
    work pixels and their luma kept."""
    if sigma <= 0:
        return pixels
    from scipy import ndimage

    ycc = pixels @ YCC.T
    ycc[..., 1:] = ndimage.gaussian_filter(ycc[..., 1:], (sigma, sigma, 0), mode="nearest")
    return ycc @ YCC_INVERSE.T


def _lab(rgb: NDArray) -> NDArray:
    """CIELAB (D65) of sRGB values in 0..1, any leading shape."""
    from skimage.color import rgb2lab

    return rgb2lab(np.clip(rgb, 0, 1).astype(np.float64), channel_axis=-1)


# -- lighting -------------------------------------------------------------------------


# Benchmarks judge hundreds of images of one size in a row; ~15 MB each at 128 px.
@functools.lru_cache(maxsize=2)
def _lit_palettes(shape: tuple[int, int], monochrome: bool) -> dict[str, NDArray]:
    """Every palette colour as it looks at every pixel under every lighting variant.

    Golden hour has its sun on the left or the right (the renderer draws a coin for
    it), so it contributes two variants. Cached: callers must not modify the arrays."""
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
            lit.flags.writeable = False  # shared through the cache
            variants[f"{lighting}:{side}"] = lit  # (C, H, W, 3)
    return variants


class _FixedDraw(random.Random):
    """A stand-in generator whose draws are fixed, to evaluate one lighting variant."""

    def __init__(self, value: float):
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def _ring(shape: tuple[int, int]) -> NDArray:
    """The image border, a few pixels wide, as a mask."""
    ring = np.zeros(shape, bool)
    edge = max(1, min(shape) // 32)
    ring[:edge], ring[-edge:], ring[:, :edge], ring[:, -edge:] = True, True, True, True
    return ring


@functools.lru_cache(maxsize=8)
def _ring_lab(shape: tuple[int, int], monochrome: bool) -> dict[str, NDArray]:
    """Every lit palette colour on the border, in CIELAB: variant → (C, N, 3)."""
    ring = _ring(shape)
    return {v: _lab(p[:, ring]) for v, p in _lit_palettes(shape, monochrome).items()}


def _explain_border(pixels: NDArray, monochrome: bool, rules: Tolerances) -> tuple[float, str, int]:
    """(median error, lighting variant, background index) that best matches the image
    border: ΔE*ab with perceptual tolerances, else the sum of RGB channel differences."""
    shape = pixels.shape[:2]
    ring = _ring(shape)
    if rules.perceptual:
        observed, candidates = _lab(pixels[ring]), _ring_lab(shape, monochrome)  # (N, 3)
    else:
        lit = _lit_palettes(shape, monochrome)
        observed, candidates = pixels[ring], {v: p[:, ring] for v, p in lit.items()}
    best = (np.inf, "", 0)
    for variant, palettes in candidates.items():  # (C, N, 3)
        difference = palettes - observed
        if rules.perceptual:
            distances = np.linalg.norm(difference, axis=2)
        else:
            distances = np.abs(difference).sum(axis=2)
        errors = np.median(distances, axis=1)  # (C,)
        index = int(errors.argmin())
        if errors[index] < best[0]:
            best = (float(errors[index]), variant, index)
    return best


# -- objects --------------------------------------------------------------------------


def _components(difference: NDArray, threshold: NDArray, floor: float) -> list[NDArray]:
    """Objects as pixel masks: regions that reach the seed threshold somewhere, grown
    down to GROW of it, split where blur bridged them, specks dropped."""
    from scipy import ndimage
    from skimage.morphology import local_maxima, reconstruction

    seed = difference > np.maximum(threshold, floor)
    grown = difference > np.maximum(GROW * threshold, floor)
    labels, _ = ndimage.label(grown)
    side = min(difference.shape)
    smallest = MIN_AREA_SHARE * (2 * SIZE_EXTENT["small"] * side) ** 2
    # Peaks deeper than a SADDLE dip (a fixed depth on a log scale) are the plateaus
    # left on top when the image is rebuilt from itself lowered by that depth.
    level = np.log(np.maximum(difference, 1e-3)).astype(np.float64)
    peaks = local_maxima(reconstruction(level + np.log(SADDLE), level))
    found = []
    for index in np.unique(labels[seed & grown]):
        region = ndimage.binary_fill_holes(labels == index)
        found += [part for part in _split(region, peaks, smallest) if part.sum() >= smallest]
    return found


def _split(region: NDArray, peaks: NDArray, smallest: float) -> list[NDArray]:
    """`region` cut into the objects it holds: every pixel joins its nearest peak.
    Unless every part is large enough to be an object, the region stays whole: an
    anti-aliased one-pixel outline can dip between its own pieces."""
    from scipy import ndimage

    cores, count = ndimage.label(region & peaks)
    if count <= 1:
        return [region]
    # Each pixel of the region takes the label of its nearest peak pixel.
    _, (iy, ix) = ndimage.distance_transform_edt(cores == 0, return_indices=True)
    nearest = cores[iy, ix]
    parts = [region & (nearest == k) for k in range(1, count + 1)]
    return parts if min(part.sum() for part in parts) >= smallest else [region]


def _others(components: list[NDArray], index: int) -> NDArray:
    others = np.zeros_like(components[index])
    for k, component in enumerate(components):
        if k != index:
            others |= component
    return others


def _deepest(component: NDArray) -> NDArray:
    """The pixels farthest from the component's edge: no anti-aliased or blurred rim,
    no outline stroke, so they show the object's own colour."""
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(component)
    return depth >= 0.6 * depth.max()


def _coverage(pixels: NDArray, expected: NDArray, inside: NDArray) -> NDArray:
    """How much of each pixel the object covers (0..1), from how far the pixel moved
    from the background towards the object's own colour: anti-aliased edges carry
    sub-pixel shape information that a yes/no mask throws away."""
    colour = np.median(pixels[inside], axis=0)  # (3,)
    background = np.median(expected[inside], axis=0)  # (3,)
    # Outlined shapes have a rim in a shade of their colour; a pixel counts as covered
    # if it moved towards the fill or the rim's ink. The renderer inks with the shade
    # that stands out most from both fill and background; lighting can change that
    # choice when the two shades are close, so both are tried then. The other shade is
    # not: when it lies between background and fill, a pixel only partly covered by
    # the fill would count as fully covered by it.
    inks = outline_inks(colour)
    visible = [min(np.linalg.norm(ink - colour), np.linalg.norm(ink - background)) for ink in inks]
    inks = [colour] + [ink for ink, v in zip(inks, visible, strict=True) if v >= TIE * max(visible)]
    coverage = []
    for ink in inks:
        towards = ink - background
        moved = ((pixels - expected) * towards).sum(axis=2) / max(float(towards @ towards), 1e-6)
        coverage.append(np.clip(moved, 0, 1))
    return np.max(coverage, axis=0)  # (H, W)


# -- outline matching -----------------------------------------------------------------


def _template(
    shape: str, window: tuple[int, int, int, int], box: tuple[float, float, float]
) -> NDArray:
    """The renderer's anti-aliased coverage (0..1) of `shape` with this box (centre x,
    centre y, radius in image pixels) in the window (x0, y0, x1, y1) of the image."""
    x0, y0, x1, y1 = window
    cx, cy, radius = box
    canvas = Image.new("L", ((x1 - x0) * 4, (y1 - y0) * 4), 0)
    points = (OUTLINES[shape] * radius + (cx - x0, cy - y0)) * 4  # (N, 2) on the canvas
    ImageDraw.Draw(canvas).polygon(points.ravel().tolist(), fill=255)
    return np.asarray(canvas.reduce(4), np.float32) / 255


def _unit_moments(shape: str) -> tuple[float, float, float]:
    """Area and centroid (x, y) of a unit outline, by the shoelace formula."""
    x, y = OUTLINES[shape].T
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2
    return (
        abs(area),
        float(((x + xn) * cross).sum() / (6 * area)),
        float(((y + yn) * cross).sum() / (6 * area)),
    )


UNIT_MOMENTS = {shape: _unit_moments(shape) for shape in OUTLINES}
# First boxes: the radius the object's mass suggests, times these factors. The mass
# overstates the size when blur dims a small object's core (its colour, read there, is
# then too close to the background), so smaller radii are tried further.
_FACTORS = (0.79, 0.86, 0.93, 1.0, 1.07)
# Then the best outlines are refined: centre shifts (px) and radius factors.
_SHIFTS = (-0.5, 0.0, 0.5)
_FINE = (0.96, 1.0, 1.04)
_FINALISTS = 2
# Coverage may be a scaled template (dimmed core as above, thin watercolour pigment);
# the fitted scale is kept within these bounds.
_GAIN = (0.7, 2.0)


@functools.lru_cache(maxsize=64)
def _gaussian_matrices(length: int) -> NDArray:
    """(len(BLURS), length, length): multiplying by one blurs along an axis, as a
    Gaussian of that sigma with zeros beyond the window."""
    offsets = np.arange(length)[:, None] - np.arange(length)[None, :]
    matrices = [np.eye(length, dtype=np.float32)]
    for sigma in BLURS[1:]:
        kernel = np.exp(-(offsets**2) / (2 * sigma**2))
        reach = np.arange(-length, length + 1)
        matrices.append((kernel / np.exp(-(reach**2) / (2 * sigma**2)).sum()).astype(np.float32))
    return np.stack(matrices)


@dataclass(frozen=True)
class _Search:
    """Every outline at its first boxes under every blur, for one object."""

    errors: NDArray  # (blurs, shapes, factors): squared difference to the coverage
    boxes: NDArray  # (shapes, factors, 3): centre x, centre y, radius in image pixels
    window: tuple[int, int, int, int]  # x0, y0, x1, y1 of the compared pixels
    target: NDArray  # the coverage inside the window, zero away from the object

    @property
    def energy(self) -> float:
        """The target's squared sum: what an empty outline's error would be."""
        return float((self.target**2).sum())


@dataclass(frozen=True)
class _Fit:
    shape: str
    box: tuple[float, float, float]  # centre x, centre y, radius in image pixels
    sharp: NDArray  # the outline's coverage in the search window, before blur
    blurred: NDArray  # and after
    ties: tuple[str, ...] = ()  # shapes that fit within the shape tie, best first


def _search(alpha: NDArray, component: NDArray, others: NDArray) -> _Search:
    """Try every outline, at a few radii around the one its mass suggests, under every
    blur in BLURS, against the object's coverage."""
    from scipy import ndimage

    # Blur spreads an object's coverage beyond its mask; other objects stay out.
    near = ndimage.binary_dilation(component, iterations=2 + round(2 * BLURS[-1])) & ~others
    own = ndimage.binary_dilation(component, iterations=1) & ~others
    # Mass and centroid survive blur, so they place each outline's first box.
    weights = np.where(own, alpha, 0)
    mass = max(float(weights.sum()), 1.0)
    ys, xs = np.indices(alpha.shape)
    mx, my = float((weights * xs).sum() / mass) + 0.5, float((weights * ys).sum() / mass) + 0.5
    # The window holds the component and what the widest blur spreads beyond it.
    cols_, rows_ = np.flatnonzero(component.any(axis=0)), np.flatnonzero(component.any(axis=1))
    margin = 2 + round(2 * BLURS[-1])
    x0, y0 = max(0, cols_[0] - margin), max(0, rows_[0] - margin)
    x1 = min(alpha.shape[1], cols_[-1] + 1 + margin)
    y1 = min(alpha.shape[0], rows_[-1] + 1 + margin)
    target = np.where(near, alpha, 0)[y0:y1, x0:x1]  # (h, w)
    rows, cols = _gaussian_matrices(y1 - y0), _gaussian_matrices(x1 - x0)
    errors, boxes = [], []
    for shape, (area, ux, uy) in UNIT_MOMENTS.items():
        radius = np.sqrt(mass / area)
        candidates = [(mx - ux * radius * f, my - uy * radius * f, radius * f) for f in _FACTORS]
        sharp = np.stack([_template(shape, (x0, y0, x1, y1), box) for box in candidates])
        blurred = rows[:, None] @ sharp[None] @ cols[:, None].transpose(0, 1, 3, 2)
        errors.append(_scaled_errors(blurred, target))  # (blurs, factors)
        boxes.append(candidates)
    return _Search(np.stack(errors, axis=1), np.array(boxes), (x0, y0, x1, y1), target)


def _refine(search: _Search, blur: int, rules: Tolerances) -> _Fit:
    """The best outline and box under `blur`, refining the best first boxes, with the
    finalists that fit within the tolerances' shape tie of it."""
    x0, y0, x1, y1 = search.window
    rows, cols = _gaussian_matrices(y1 - y0)[blur], _gaussian_matrices(x1 - x0)[blur]
    errors = search.errors[blur]  # (shapes, factors)
    fits = []  # (error, fit) per finalist
    # Small hexagons, circles and squares are near-twins: a tie needs all three refined.
    finalists = _FINALISTS if rules.shape_tie <= 1 else 3
    for index in np.argsort(errors.min(axis=1))[:finalists]:
        shape = list(UNIT_MOMENTS)[index]
        cx, cy, radius = search.boxes[index, errors[index].argmin()]
        candidates = [
            (cx + dx, cy + dy, radius * f)
            for f, dx, dy in itertools.product(_FINE, _SHIFTS, _SHIFTS)
        ]
        sharp = np.stack([_template(shape, search.window, box) for box in candidates])
        blurred = rows @ sharp @ cols.T  # (boxes, h, w)
        fit_errors = _scaled_errors(blurred, search.target)
        k = int(fit_errors.argmin())
        fits.append((float(fit_errors[k]), _Fit(shape, candidates[k], sharp[k], blurred[k])))
    fits.sort(key=lambda pair: pair[0])  # stable: on equal errors the first finalist wins
    least, best = fits[0]
    within = min(rules.shape_tie * least, least + rules.shape_tie_share * search.energy)
    ties = tuple(fit.shape for error, fit in fits if error <= within)
    return dataclasses.replace(best, ties=ties)


def _scaled_errors(templates: NDArray, target: NDArray) -> NDArray:
    """Least squared difference between `target` (h, w) and each of `templates`
    (..., h, w) times its best gain within _GAIN."""
    dot = (templates * target).sum(axis=(-2, -1))
    norm = np.maximum((templates**2).sum(axis=(-2, -1)), 1e-6)
    gain = np.clip(dot / norm, *_GAIN)
    return float((target**2).sum()) - 2 * gain * dot + gain**2 * norm


def _common_blur(searches: list[_Search]) -> int:
    """The index in BLURS of the blur that best explains all objects together."""
    if not searches:
        return 0
    total = sum(search.errors.min(axis=(1, 2)) for search in searches)
    return int(np.argmin(total))


def _describe(
    fit: _Fit,
    search: _Search,
    pixels: NDArray,
    expected: NDArray,
    lit: NDArray,
    monochrome: bool,
    rules: Tolerances,
) -> DetectedObject:
    height, width = pixels.shape[:2]
    cx, cy, radius = fit.box
    overlap = np.minimum(fit.blurred, search.target).sum()
    score = float(overlap / max(float(np.maximum(fit.blurred, search.target).sum()), 1e-6))
    extent = radius / min(height, width)
    size = min(SIZE_EXTENT, key=lambda s: abs(np.log(SIZE_EXTENT[s] / extent)))
    x0, y0, x1, y1 = search.window
    core = _deepest(fit.sharp > 0.5) if (fit.sharp > 0.5).any() else fit.sharp > 0
    if not core.any():  # a fit between pixel centres: read the observed object instead
        core = search.target >= search.target.max() / 2
    if not core.any():  # nothing observed above the background either: the whole window
        core = np.ones_like(core, dtype=bool)
    inside = np.zeros((height, width), bool)
    inside[y0:y1, x0:x1] = core
    # Under blur even a small object's core is partly background; the fitted outline
    # says how much, so the colour is unmixed from it.
    cover = float(fit.blurred[core].mean())
    return DetectedObject(
        shape=fit.shape,
        colour=None if monochrome else _colour(inside, cover, pixels, expected, lit, rules),
        size=size,
        x=float(cx / width),
        y=float(cy / height),
        shape_score=score,
        shapes=fit.ties,
    )


def _colour(
    inside: NDArray,
    cover: float,
    pixels: NDArray,
    expected: NDArray,
    lit: NDArray,
    rules: Tolerances,
) -> str:
    """The palette colour whose lit version best matches the object's inside, where
    the object covers `cover` of each pixel and the background the rest; the median
    resists watercolour blotches. Perceptual tolerances name it by CIEDE2000, the
    difference that follows people's judgements best, blues and greys included."""
    mixed = np.median(pixels[inside], axis=0)  # (3,)
    background = np.median(expected[inside], axis=0)  # (3,)
    # Below half coverage the unmixing would mostly amplify noise. (Pixels mix in RGB,
    # as the renderer composites them, so the unmixing stays in RGB.)
    observed = background + (mixed - background) / max(cover, 0.5)
    predicted = np.median(lit[:, inside], axis=1)  # (C, 3)
    if rules.perceptual:
        from skimage.color import deltaE_ciede2000

        distances = deltaE_ciede2000(_lab(predicted), _lab(observed)[None], channel_axis=-1)
    else:
        distances = np.abs(predicted - observed).sum(axis=1)
    return list(COLOURS)[int(distances.argmin())]


def matches(scene: Scene, found: Detection) -> bool:
    """Whether a detection shows exactly `scene`'s objects (shape, colour, size; colour
    is not judged in monochrome, where it cannot be recovered) with its relations.

    Some pairing of scene objects with detections must agree on every object (its
    shape among the detection's tied shapes) and make the scene's relations hold on
    the detected centres (box centres, as the scene's are, so the same margin applies)."""
    mono = scene.style == "monochrome"
    if len(found.objects) != len(scene.objects):
        return False

    def agree(obj: ShapeObject, seen: DetectedObject) -> bool:
        return (
            obj.shape in (seen.shapes or (seen.shape,))
            and (mono or obj.colour == seen.colour)
            and obj.size == seen.size
        )

    return any(
        all(agree(obj, seen) for obj, seen in zip(scene.objects, order, strict=True))
        and all(
            relation_holds(order[r.subject_index], r.relation, order[r.object_index])
            for r in scene.relations
        )
        for order in itertools.permutations(found.objects)
    )
