"""Requests for the image tools: style transfer, recolour, palette, upscale.

Like GenerationRequest, each is a frozen dataclass that checks itself once, when it
is made, with errors that name the field, the value and what is allowed. The CLI and
the studio build them from their own input (flags, JSON) and hand them to
`genlab.services.tools`; the images a tool works on are passed beside the request,
since the CLI reads them from files and the studio from its store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from genlab.core.errors import InvalidRequest
from genlab.core.request import MAX_SIDE, SEED_LIMIT, check_name, check_text

RECOLOR_METHODS = ("reinhard", "histogram", "ot")
UPSCALE_SCALES = (2, 4)
MAX_PALETTE_COLOURS = 16
MAX_TILE = MAX_SIDE  # an upscale tile larger than any image is the whole image
# StyleConfig's options a user may set (transfer.style has the layer lists too).
STYLE_OPTIONS = (
    *("size", "scales", "iterations", "coarse_iterations", "optimizer", "learning_rate"),
    *("content_weight", "style_weight", "tv_weight", "strength", "preserve_colours"),
    *("style_scale", "init", "pooling", "seed"),
)
_STYLE_TEXT_OPTIONS = ("optimizer", "init", "pooling")


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_seed(seed: object, *, random_allowed: bool = False) -> int:
    """A tool's seed: 0 to SEED_LIMIT-1 (or -1, "draw one", where allowed)."""
    low = -1 if random_allowed else 0
    if not _int(seed) or not low <= seed < SEED_LIMIT:  # type: ignore[operator]
        allowed = f"-1 (random) or 0 to {SEED_LIMIT - 1}" if random_allowed else None
        raise InvalidRequest("seed", seed, allowed or f"an integer from 0 to {SEED_LIMIT - 1}")
    return seed  # type: ignore[return-value]


@dataclass(frozen=True)
class RecolorRequest:
    """Recolour an image like a reference image or onto a palette (exactly one).

    `palette` is a preset name or '#hex,#hex,…' (the CLI also takes a palette file);
    `like` names the reference as the output's metadata will ("image 3", a path)."""

    palette: str | None = None
    like: str | None = None
    method: str = "reinhard"  # with `like`: reinhard, histogram or ot
    strength: float = 1.0  # 0 keeps the original, 1 is the full change
    regrain: bool = True  # with method ot: keep the source's fine detail
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.palette is None) == (self.like is None):
            given = "both" if self.like is not None else "neither"
            raise InvalidRequest("like/palette", given, "give exactly one")
        if self.palette is not None:
            check_text(self.palette, "palette")  # a file path from the CLI can be long
        if check_name(self.method, "method") not in RECOLOR_METHODS:
            raise InvalidRequest("method", self.method, f"one of {', '.join(RECOLOR_METHODS)}")
        strength = self.strength
        if isinstance(strength, bool) or not isinstance(strength, (int, float)):
            raise InvalidRequest("strength", strength, "a number from 0 to 1")
        if not 0.0 <= strength <= 1.0:  # also refuses NaN
            raise InvalidRequest("strength", strength, "a number from 0 to 1")
        check_seed(self.seed)


@dataclass(frozen=True)
class PaletteRequest:
    """Extract an image's k main colours (k-means in Lab)."""

    k: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        if not _int(self.k) or not 1 <= self.k <= MAX_PALETTE_COLOURS:
            raise InvalidRequest("k", self.k, f"an integer from 1 to {MAX_PALETTE_COLOURS}")
        check_seed(self.seed)


@dataclass(frozen=True)
class UpscaleRequest:
    """Upscale an image by 2 or 4 (None: the model's own scale, else 2), tile by tile."""

    model: str = "espcn"  # a resampler, the shipped ESPCN, or (CLI) an SR model file
    scale: int | None = None
    tile: int = 256  # in input pixels; 0 = the whole image at once
    allow_pickle: bool = False
    device: str | None = None  # genlab.devices' names; None: the best one here

    def __post_init__(self) -> None:
        check_text(self.model, "model")  # a model file from the CLI
        if self.scale is not None and self.scale not in UPSCALE_SCALES:
            raise InvalidRequest("scale", self.scale, "must be 2 or 4")
        if not _int(self.tile) or not 0 <= self.tile <= MAX_TILE:
            raise InvalidRequest(
                "tile", self.tile, f"0 (whole image) or a tile size in pixels, at most {MAX_TILE}"
            )


@dataclass(frozen=True)
class StyleRequest:
    """Neural style transfer: `options` are StyleConfig's (STYLE_OPTIONS), left out
    for its defaults; `frame_every` asks for a preview every N loss evaluations."""

    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    frame_every: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.options) - set(STYLE_OPTIONS))
        if unknown:
            raise InvalidRequest(
                "style", ", ".join(unknown), f"options are {', '.join(STYLE_OPTIONS)}"
            )
        options = {k: v for k, v in self.options.items() if v is not None}
        for name in _STYLE_TEXT_OPTIONS:
            if name in options:
                check_name(options[name], name)
        if "seed" in options:
            check_seed(options["seed"], random_allowed=True)
        if not _int(self.frame_every) or self.frame_every < 0:
            raise InvalidRequest("frame_every", self.frame_every, "must be an integer >= 0")
        object.__setattr__(self, "options", options)

    @property
    def seed(self) -> int:
        return self.options.get("seed", 0)

    def with_seed(self, seed: int) -> StyleRequest:
        return dataclasses.replace(self, options={**self.options, "seed": check_seed(seed)})
