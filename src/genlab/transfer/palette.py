"""Palettes: extract one from an image, read one from a preset or a file, compare two,
and recolour an image onto one.

A palette is up to MAX_COLOURS colours with weights (the share of the picture each one
covers). Extraction is k-means in CIE Lab, where Euclidean distance is roughly the
perceived difference (ΔE76). The distance between two palettes is the earth mover's
distance in Lab over their weights: the least colour change, in ΔE, that turns one
palette's mix of colours into the other's.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.text import brief
from genlab.core.tools import MAX_PALETTE_COLOURS
from genlab.transfer.colour import lab_to_rgb, rgb_to_lab, visible_pixels
from genlab.transfer.presets import PRESETS

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

MAX_COLOURS = MAX_PALETTE_COLOURS
HEX_FORMS = "#rrggbb or #rgb"
PALETTE_FILE_SUFFIXES = (".txt", ".hex", ".json")
_HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
# k-means sees at most this many pixels: shares estimated from 50 000 random pixels
# are within half a percent of the full image's, and extraction stays near 0.1 s.
_SAMPLE = 50_000


class PaletteError(GenlabError, ValueError):
    """A palette name, file or colour token that cannot be used."""


@dataclass(frozen=True)
class Palette:
    """Colours as 8-bit RGB with weights that sum to 1 and optional names."""

    colours: tuple[tuple[int, int, int], ...]
    weights: tuple[float, ...]
    names: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        k = len(self.colours)
        if not 1 <= k <= MAX_COLOURS:
            raise PaletteError(f"a palette needs 1 to {MAX_COLOURS} colours, got {k}")
        if len(self.weights) != k or (self.names and len(self.names) != k):
            raise PaletteError("palette colours, weights and names differ in length")
        if not all(math.isfinite(w) and w >= 0 for w in self.weights) or sum(self.weights) <= 0:
            raise PaletteError("palette weights must be non-negative numbers, not all zero")
        total = sum(self.weights)
        object.__setattr__(self, "weights", tuple(float(w) / total for w in self.weights))
        object.__setattr__(self, "names", self.names or ("",) * k)

    @property
    def hex(self) -> tuple[str, ...]:
        return tuple(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in self.colours)

    def lab(self) -> np.ndarray:
        """(k, 3) CIE Lab of the colours."""
        return rgb_to_lab(np.array(self.colours, dtype=np.uint8)).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "colours": [
                {"hex": h, "weight": round(w, 6), **({"name": n} if n else {})}
                for h, w, n in zip(self.hex, self.weights, self.names)
            ],
        }


# --- reading palettes ------------------------------------------------------------------


def parse_hex(token: str) -> tuple[int, int, int]:
    """'#rrggbb' or '#rgb' → (r, g, b); anything else is a PaletteError naming the token."""
    text = token.strip()
    if not _HEX.fullmatch(text):
        raise PaletteError(f"colour {brief(token)} is not a hex colour: use {HEX_FORMS}")
    digits = text[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def preset(name: str) -> Palette:
    """A named preset (see presets.PRESETS)."""
    if name not in PRESETS:
        raise PaletteError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    _, entries = PRESETS[name]
    return Palette(
        tuple(parse_hex(h) for h, _, _ in entries),
        tuple(w for _, w, _ in entries),
        tuple(n for _, _, n in entries),
        name=name,
    )


def parse_palette(spec: str) -> Palette:
    """A preset name, a palette file, or a list of hex colours ('#hex,#hex,…'): what
    the CLI's --palette takes. Values from the network go to `palette_from_text`."""
    text = spec.strip()
    if is_text_palette(text):
        return palette_from_text(text)
    path = Path(text)
    if path.suffix.lower() in PALETTE_FILE_SUFFIXES or path.exists() or "/" in text:
        return read_palette_file(path)
    raise PaletteError(
        f"unknown palette {brief(spec)}: use a preset ({', '.join(PRESETS)}), a palette file "
        f"({', '.join(PALETTE_FILE_SUFFIXES)}), or hex colours like '#1a2b3c,#fff'"
    )


def is_text_palette(text: str) -> bool:
    """Whether `text` is written as a preset name or hex colours rather than a file."""
    text = text.strip()
    return text in PRESETS or text.startswith("#") or "," in text


def palette_from_text(spec: str) -> Palette:
    """A preset name or hex colours ('#hex,#hex,…'), and nothing else: this never
    touches the filesystem, so it is what a palette sent over the network may be.
    The error for anything else depends on the text alone (not on what exists)."""
    text = spec.strip()
    if text in PRESETS:
        return preset(text)
    if is_text_palette(text):
        tokens = [t for t in re.split(r"[,\s]+", text) if t]
        if len(tokens) > MAX_COLOURS:
            raise PaletteError(f"a palette needs 1 to {MAX_COLOURS} colours, got {len(tokens)}")
        return Palette(tuple(parse_hex(t) for t in tokens), (1.0,) * len(tokens))
    raise PaletteError(
        f"unknown palette {brief(spec)}: use a preset ({', '.join(PRESETS)}) "
        "or hex colours like '#1a2b3c,#fff'"
    )


def read_palette_file(path: Path) -> Palette:
    """A palette from a text file (one `#hex [weight] [name]` per line) or JSON."""
    if not path.is_file():
        raise PaletteError(f"palette file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PaletteError(f"palette file {path} is not UTF-8 text") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        return _palette_from_json(text, path)
    colours, weights, names = [], [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        # Colours start with '#' and a hex digit, so '# ' (or '//') can open a comment.
        if not line or line.startswith(("# ", "//")) or line == "#":
            continue
        where = f" (palette file {path}, line {number})"
        token, rest = _first_field(line)
        try:
            colours.append(parse_hex(token))
        except PaletteError as err:
            raise PaletteError(f"{err}{where}") from None
        weight, name = _weight_and_name(rest)
        weights.append(weight)
        names.append(name)
    if not colours:
        raise PaletteError(f"palette file {path} holds no colours: write one {HEX_FORMS} a line")
    return _palette(colours, weights, names, path)


def _weight_and_name(rest: str) -> tuple[float, str]:
    """'30% Brand orange' / '0.3, Brand orange' / 'Brand orange' → (weight, name)."""
    head, tail = _first_field(rest)
    number = head[:-1] if head.endswith("%") else head
    try:
        weight = float(number)
    except ValueError:
        return 1.0, rest.strip()
    if not math.isfinite(weight) or weight < 0:
        raise PaletteError(f"palette weight {head!r} must be a non-negative number")
    return weight, tail


def _first_field(text: str) -> tuple[str, str]:
    """Split off the first comma- or space-separated field."""
    match = re.match(r"([^,\s]*)[,\s]*(.*)", text.strip())
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2).strip()


def _palette_from_json(text: str, path: Path) -> Palette:
    shape = (
        'use ["#hex", …], [{"hex": "#hex", "weight": 1, "name": "…"}, …] '
        'or {"name": "…", "colours": [...]}'
    )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PaletteError(f"palette file {path} is not valid JSON: {err.msg}") from None
    if isinstance(data, dict):
        data = data.get("colours", data.get("colors"))
    if not isinstance(data, list):
        raise PaletteError(f"palette file {path}: {shape}")
    colours, weights, names = [], [], []
    for entry in data:
        if isinstance(entry, str):
            entry = {"hex": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("hex"), str):
            raise PaletteError(f"palette file {path}: entry {entry!r} has no hex; {shape}")
        colours.append(parse_hex(entry["hex"]))
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise PaletteError(f"palette file {path}: weight {weight!r} must be a number ≥ 0")
        weights.append(float(weight))
        names.append(str(entry.get("name", "")))
    return _palette(colours, weights, names, path)


def _palette(colours: list, weights: list, names: list, path: Path) -> Palette:
    if len(colours) > MAX_COLOURS:
        raise PaletteError(
            f"palette file {path} has {len(colours)} colours; at most {MAX_COLOURS} are allowed"
        )
    return Palette(tuple(colours), tuple(weights), tuple(names), name=path.stem)


# --- extracting a palette ---------------------------------------------------------------


def extract_palette(
    image: np.ndarray, k: int = 6, *, mask: np.ndarray | None = None, seed: int = 0
) -> Palette:
    """The k main colours of an (H, W, 3) uint8 image, heaviest first.

    k-means in Lab on a seeded pixel sample; weights are each cluster's share of the
    sampled pixels. An image with fewer than k distinct colours gives fewer colours."""
    centres, weights = _clusters(_sample_lab(image, mask, seed), k, seed)
    rgb = lab_to_rgb(centres)
    return Palette(tuple(tuple(int(v) for v in c) for c in rgb), tuple(weights.tolist()))


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_COLOURS:
        raise InvalidRequest("k", k, f"an integer from 1 to {MAX_COLOURS}")


def _sample_lab(image: np.ndarray, mask: np.ndarray | None, seed: int) -> np.ndarray:
    pixels = visible_pixels(image, mask)
    if len(pixels) == 0:
        raise PaletteError("the image has no visible pixels to take colours from")
    if len(pixels) > _SAMPLE:
        pixels = pixels[np.random.default_rng(seed).choice(len(pixels), _SAMPLE, replace=False)]
    return rgb_to_lab(pixels).astype(np.float64)


def _clusters(lab: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (m, 3) and weights (m,), heaviest first, with m ≤ k."""
    check_k(k)
    centres, labels = kmeans(lab, k, seed=seed)
    weights = np.bincount(labels, minlength=len(centres)) / len(labels)
    # Heaviest first; equal weights go darkest first so the order never depends on luck.
    order = np.lexsort((centres[:, 0], -weights))
    return centres[order], weights[order]


def kmeans(
    points: np.ndarray, k: int, *, seed: int = 0, iterations: int = 50, tol: float = 1e-2
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007).

    Returns centres (m, d) and labels (n,); m < k only when the points have fewer than k
    distinct values. Seeded, so the same points and seed give the same palette."""
    rng = np.random.default_rng(seed)
    centres = _kmeans_plus_plus(points, k, rng)
    for _ in range(iterations):
        distances = _squared_distances(points, centres)
        labels = distances.argmin(axis=1)
        counts = np.bincount(labels, minlength=len(centres))
        sums = np.stack([np.bincount(labels, points[:, d], len(centres)) for d in range(3)], 1)
        updated = sums / np.maximum(counts, 1)[:, None]
        for empty in np.flatnonzero(counts == 0):
            # An empty cluster restarts at the point worst served by the others.
            far = int(distances[np.arange(len(points)), labels].argmax())
            updated[empty] = points[far]
            labels[far] = empty
        shift = float(np.abs(updated - centres).max())
        centres = updated
        if shift < tol:
            break
    return centres, _squared_distances(points, centres).argmin(axis=1)


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each new centre is drawn with probability ∝ squared distance to the nearest one."""
    chosen = [points[rng.integers(len(points))]]
    nearest = ((points - chosen[0]) ** 2).sum(axis=1)
    for _ in range(k - 1):
        total = nearest.sum()
        if total <= 0:
            break  # every point already coincides with a centre
        chosen.append(points[rng.choice(len(points), p=nearest / total)])
        np.minimum(nearest, ((points - chosen[-1]) ** 2).sum(axis=1), out=nearest)
    return np.array(chosen)


def _squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances.

    Summed per coordinate rather than as |x|² − 2x·c + |c|²: with 3 coordinates the
    matrix product is slower than three broadcasts, and there is no cancellation."""
    d = np.zeros((len(points), len(centres)))
    for c in range(points.shape[1]):
        diff = points[:, c, None] - centres[None, :, c]
        d += diff * diff
    return d


# --- comparing palettes -----------------------------------------------------------------


def palette_distance(a: Palette, b: Palette) -> float:
    """Earth mover's distance between two palettes in Lab (ΔE76), over their weights.

    The transport problem is small (at most 16 × 16 flows), so the exact linear
    programme is solved directly."""
    from scipy.optimize import linprog

    cost = np.sqrt(_squared_distances(a.lab(), b.lab()))  # (ka, kb)
    ka, kb = cost.shape
    wa, wb = np.array(a.weights), np.array(b.weights)
    wb *= wa.sum() / wb.sum()
    rows = np.kron(np.eye(ka), np.ones(kb))  # Σ_j flow[i, j] = wa[i]
    cols = np.kron(np.ones(ka), np.eye(kb))  # Σ_i flow[i, j] = wb[j]
    # One column constraint follows from the others; dropping it keeps rounding from
    # making the programme infeasible.
    result = linprog(
        cost.ravel(),
        A_eq=np.vstack([rows, cols[:-1]]),
        b_eq=np.concatenate([wa, wb[:-1]]),
        bounds=(0, None),
        method="highs",
    )
    if not result.success:  # cannot happen for valid weights; a bug if it does
        raise RuntimeError(f"palette distance: transport problem failed: {result.message}")
    return max(float(result.fun), 0.0)


# --- recolouring onto a palette ---------------------------------------------------------

# Chroma floor in the per-cluster chroma ratio, so near-grey clusters do not divide by ~0.
_CHROMA_FLOOR = 10.0
# Importance of matching weights (share of picture) against matching colour when pairing
# the image's clusters with the palette's colours: a 10-point share gap costs 5 ΔE.
_WEIGHT_COST = 50.0
# Soft-assignment width relative to the typical gap between neighbouring clusters. Wider
# blends each cluster's move with its neighbours' (more natural skin and skies, but the
# palette is reached less fully); narrower approaches hard assignment and posterises.
# 0.7 was the best compromise on the sample photos (docs/make_colour_images.py).
_SOFTNESS = 0.7


def recolor_to_palette(
    image: np.ndarray, palette: Palette, *, mask: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """Recolour an (H, W, 3) uint8 image so its main colours become the palette's.

    1. Cluster the image into as many Lab colours as the palette has.
    2. Pair clusters with palette colours one to one by optimal assignment. The cost is
       the Lab distance after the clusters' lightness spread has been mapped onto the
       palette's, plus a term for differing weights: dark stays dark, big areas take
       the big colours, and otherwise each cluster takes the nearest colour.
    3. Move every pixel by the moves of its clusters, softly weighted by how close it is
       to each (a Gaussian in Lab). Lightness is shifted, so light and shade inside a
       cluster keep their structure; a cluster's spread in a and b is scaled down when
       its target is less colourful. Neighbouring pixels therefore stay in order, and
       smooth gradients stay smooth instead of posterising.
    """
    from scipy.optimize import linear_sum_assignment

    lab = rgb_to_lab(image).reshape(-1, 3)
    centres, weights = _clusters(_sample_lab(image, mask, seed), len(palette.colours), seed)
    target, target_w = palette.lab(), np.array(palette.weights)

    rows, cols = linear_sum_assignment(_pairing_cost(centres, weights, target, target_w))
    centres, goal = centres[rows], target[cols]
    chroma = np.hypot(centres[:, 1], centres[:, 2])
    goal_chroma = np.hypot(goal[:, 1], goal[:, 2])
    ab_scale = np.minimum(1.0, (goal_chroma + _CHROMA_FLOOR) / (chroma + _CHROMA_FLOOR))
    width = _SOFTNESS * _typical_gap(centres)
    lightness = goal[:, 0] - centres[:, 0]
    offsets = [goal[:, c] - ab_scale * centres[:, c] for c in (1, 2)]

    out = np.empty_like(lab)
    for start in range(0, len(lab), 1 << 16):
        px = lab[start : start + (1 << 16)].astype(np.float64)  # (n, 3)
        share = _shares(px, centres, width)  # (n, k)
        moved = np.empty_like(px)
        moved[:, 0] = px[:, 0] + share @ lightness
        # a and b: a per-cluster affine map scale·ab + offset, mixed by share.
        for c, offset in zip((1, 2), offsets):
            moved[:, c] = px[:, c] * (share @ ab_scale) + share @ offset
        out[start : start + len(px)] = moved
    return lab_to_rgb(out.reshape(image.shape))


def _shares(points: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    """(n, k) soft assignment: Gaussian in Lab distance, normalised per point."""
    logits = -_squared_distances(points, centres) / (2.0 * width * width)
    logits -= logits.max(axis=1, keepdims=True)
    share = np.exp(logits)
    return share / share.sum(axis=1, keepdims=True)


def _pairing_cost(
    centres: np.ndarray, weights: np.ndarray, target: np.ndarray, target_w: np.ndarray
) -> np.ndarray:
    def spread(values: np.ndarray, w: np.ndarray) -> tuple[float, float]:
        mean = float(w @ values / w.sum())
        return mean, max(math.sqrt(float(w @ (values - mean) ** 2 / w.sum())), 1.0)

    (m_s, s_s), (m_t, s_t) = spread(centres[:, 0], weights), spread(target[:, 0], target_w)
    aligned = centres.copy()
    aligned[:, 0] = (centres[:, 0] - m_s) / s_s * s_t + m_t
    colour = np.sqrt(_squared_distances(aligned, target))
    return colour + _WEIGHT_COST * np.abs(weights[:, None] - target_w[None, :])


def _typical_gap(centres: np.ndarray) -> float:
    """Mean distance from each centre to its nearest neighbour (ΔE), at least 5."""
    if len(centres) < 2:
        return 5.0
    d = np.sqrt(_squared_distances(centres, centres))
    np.fill_diagonal(d, np.inf)
    return max(float(d.min(axis=1).mean()), 5.0)


# --- showing a palette ------------------------------------------------------------------


def render_swatch(palette: Palette, *, width: int = 480) -> Image.Image:
    """A swatch: a strip split by weight, then one bar per colour with its hex and share."""
    from PIL import Image, ImageDraw, ImageFont

    strip, row, label = 56, 30, 150
    height = strip + 8 + row * len(palette.colours) + 8
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    x = 0.0
    for colour, weight in zip(palette.colours, palette.weights):
        draw.rectangle([round(x), 0, round(x + weight * width), strip - 1], fill=colour)
        x += weight * width
    longest = max(palette.weights)
    for i, (colour, weight, hex_code, name) in enumerate(
        zip(palette.colours, palette.weights, palette.hex, palette.names)
    ):
        top = strip + 8 + i * row
        text = f"{hex_code}  {weight * 100:4.1f}%"
        draw.text((8, top + 7), text, fill=(30, 30, 30), font=font)
        bar = max(2, round((width - label - 8) * weight / longest))
        draw.rectangle(
            [label, top + 3, label + bar, top + row - 4], fill=colour, outline=(200, 200, 200)
        )
        if name:
            draw.text((label + bar + 6, top + 7), name, fill=(90, 90, 90), font=font)
    return canvas
