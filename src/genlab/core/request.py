"""The generation request: one frozen dataclass, validated in one place.

Field names are the project's vocabulary (prompt, negative_prompt, steps,
guidance_scale, sampler, seed, width, height, …) and are spelled the same in CLI
flags, API fields and the metadata JSON.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

from genlab.core.errors import InvalidRequest
from genlab.core.samplers import canonical_hires_upscaler, canonical_sampler, canonical_schedule
from genlab.core.text import MAX_NAME_CHARS, MAX_PROMPT_CHARS, text_problem

MAX_SIDE = 4096
# A latent-diffusion UNet at 2048x2048 x 4 images already needs tens of GB; beyond
# this many pixels per batch we refuse before loading anything.
MAX_BATCH_PIXELS = 2048 * 2048 * 4
MAX_STEPS = 1000
MAX_GUIDANCE = 100.0
MAX_BATCH = 64
SEED_LIMIT = 2**32  # A1111 seeds are unsigned 32-bit
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux: a model may be a file or folder path
DEFAULT_MODEL = "procedural"
# A1111's "Masked content" choices, in the order of its API's inpainting_fill 0..3.
INPAINT_FILLS = ("fill", "original", "latent noise", "latent nothing")
MAX_CLIP_SKIP = 12  # A1111's slider; a text encoder with fewer layers refuses more
MAX_HIRES_SCALE = 4.0  # A1111's slider
MAX_MASK_PIXELS = MAX_SIDE  # blur radius and padding: more than a side is meaningless


@dataclass(frozen=True)
class LoraSpec:
    """A LoRA file and the scale it is applied with (`file.safetensors:0.8`)."""

    path: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> LoraSpec:
        # The text may come from an image's metadata: hostile, like any input.
        check_text(text, "loras", max_chars=MAX_PATH_CHARS)
        path, sep, weight = text.rpartition(":")
        # "C:\\x.safetensors" or a path without weight: the colon is not a weight.
        if not sep or not _parses_as_float(weight):
            path, weight = text, "1"
        if not path.strip():
            raise InvalidRequest("loras", text, "each must name a LoRA file: 'path[:weight]'")
        return cls(path=path, weight=float(weight))

    def __str__(self) -> str:
        return f"{self.path}:{self.weight:g}"


@dataclass(frozen=True)
class LoadOptions:
    """How a model is loaded; not part of what an image *is*, so not in its metadata."""

    device: str | None = None  # None: cuda > mps > cpu
    dtype: str | None = None  # None: fp16 on cuda, fp32 elsewhere
    config: str | None = None  # local config folder for single-file checkpoints
    allow_pickle: bool = False
    attention_slicing: bool = False
    cpu_offload: bool = False


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    width: int | None = None  # None: the model's native size
    height: int | None = None
    steps: int = 20
    guidance_scale: float = 7.0
    sampler: str = "DPM++ 2M"
    schedule: str = "Automatic"
    seed: int = -1  # -1: random, resolved before generation
    batch_size: int = 1
    model: str = DEFAULT_MODEL
    init_image: str | None = None  # path; img2img when set
    strength: float = 0.75  # A1111 "Denoising strength", used with init_image
    mask: str | None = None  # path; inpainting (white = repaint) when set
    # A1111's mask options. genlab's defaults keep what a mask has always meant here (a
    # hard edge: no blur); A1111's API default blur of 4 is set by the A1111 route.
    # The others are A1111's own defaults (inpaint_full_res_padding as in its UI).
    mask_blur: int = 0  # Gaussian blur (pixels) of the mask, before denoising and compositing
    mask_invert: bool = False  # repaint what is black instead (A1111 inpainting_mask_invert)
    inpaint_fill: str = "original"  # what the masked area starts from (A1111 inpainting_fill)
    inpaint_only_masked: bool = False  # generate the mask's box only (A1111 inpaint_full_res)
    inpaint_padding: int = 32  # pixels around that box (A1111 inpaint_full_res_padding)
    loras: tuple[LoraSpec, ...] = field(default_factory=tuple)
    # A1111's "Clip skip" (CLIP_stop_at_last_layers): 1 uses the text encoder's last
    # layer, 2 the one before it, … (its settings slider goes to 12).
    clip_skip: int = 1
    tiling: bool = False  # seamless textures: circular padding in the UNet and VAE (A1111)
    # A1111's hires fix (txt2img): generate, upscale (in latent space or as an image),
    # then denoise again at the larger size. On when hires_scale > 1 or a hires size is
    # given; hires_steps 0 means as many as `steps`.
    hires_scale: float = 1.0
    hires_width: int | None = None  # A1111 hr_resize_x/y: the final size, over the scale
    hires_height: int | None = None
    hires_upscaler: str = "Latent"
    hires_steps: int = 0
    hires_denoise: float = 0.7  # A1111's default denoising strength for the second pass
    # GAN truncation psi: pull the latent towards its mean (1: none; GAN models only).
    truncation: float = 1.0

    def __post_init__(self) -> None:
        check_text(self.prompt, "prompt")
        check_text(self.negative_prompt, "negative_prompt")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is None:
                continue
            if not _is_int(value) or value % 8 or not 8 <= value <= MAX_SIDE:
                raise InvalidRequest(name, value, f"must be a multiple of 8 from 8 to {MAX_SIDE}")
        # Before the pixel budget below, which multiplies by it.
        if not _is_int(self.batch_size) or not 1 <= self.batch_size <= MAX_BATCH:
            raise InvalidRequest(
                "batch_size", self.batch_size, f"must be an integer from 1 to {MAX_BATCH}"
            )
        if (
            self.width
            and self.height
            and self.width * self.height * self.batch_size > (MAX_BATCH_PIXELS)
        ):
            raise InvalidRequest(
                "width*height*batch_size",
                self.width * self.height * self.batch_size,
                f"at most {MAX_BATCH_PIXELS} pixels per batch (memory estimate)",
            )
        if not _is_int(self.steps) or not 1 <= self.steps <= MAX_STEPS:
            raise InvalidRequest("steps", self.steps, f"must be an integer from 1 to {MAX_STEPS}")
        if not _is_float(self.guidance_scale) or not 0 <= self.guidance_scale <= MAX_GUIDANCE:
            raise InvalidRequest(
                "guidance_scale",
                self.guidance_scale,
                f"must be a number from 0 to {MAX_GUIDANCE:g}",
            )
        object.__setattr__(self, "guidance_scale", float(self.guidance_scale))
        object.__setattr__(self, "sampler", _canonical("sampler", self.sampler, canonical_sampler))
        object.__setattr__(
            self, "schedule", _canonical("schedule", self.schedule, canonical_schedule)
        )
        if not _is_int(self.seed) or not -1 <= self.seed < SEED_LIMIT:
            raise InvalidRequest("seed", self.seed, f"must be -1 (random) or 0 to {SEED_LIMIT - 1}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidRequest("model", self.model, "must name an engine, hub id, folder or file")
        check_text(self.model, "model", max_chars=MAX_PATH_CHARS)
        for name in ("init_image", "mask"):
            if getattr(self, name) is not None:
                check_text(getattr(self, name), name, max_chars=MAX_PATH_CHARS)
        if not _is_float(self.strength) or not 0.0 <= self.strength <= 1.0:
            raise InvalidRequest("strength", self.strength, "must be a number from 0 to 1")
        object.__setattr__(self, "strength", float(self.strength))
        if self.mask is not None and self.init_image is None:
            raise InvalidRequest("mask", self.mask, "needs an init_image to inpaint")
        self._check_mask_options()
        self._check_hires_options()
        if not _is_int(self.clip_skip) or not 1 <= self.clip_skip <= MAX_CLIP_SKIP:
            raise InvalidRequest(
                "clip_skip",
                self.clip_skip,
                f"must be an integer from 1 (last layer) to {MAX_CLIP_SKIP}",
            )
        if not _is_float(self.truncation) or not 0.0 < self.truncation <= 1.0:
            raise InvalidRequest("truncation", self.truncation, "must be a number in (0, 1]")
        object.__setattr__(self, "truncation", float(self.truncation))
        if isinstance(self.loras, (str, bytes)) or not isinstance(self.loras, (tuple, list)):
            raise InvalidRequest("loras", self.loras, "a list of 'path' or 'path:weight'")
        loras = tuple(
            LoraSpec.parse(check_text(item, "loras", max_chars=MAX_PATH_CHARS))
            if isinstance(item, str)
            else item
            for item in self.loras
        )
        for lora in loras:
            if not isinstance(lora, LoraSpec) or not _is_float(lora.weight):
                raise InvalidRequest("loras", lora, "each must be 'path' or 'path:weight'")
        object.__setattr__(self, "loras", loras)

    def _check_mask_options(self) -> None:
        for name in ("mask_blur", "inpaint_padding"):
            value = getattr(self, name)
            if not _is_int(value) or not 0 <= value <= MAX_MASK_PIXELS:
                raise InvalidRequest(
                    name, value, f"must be a whole number of pixels from 0 to {MAX_MASK_PIXELS}"
                )
        for name in ("mask_invert", "inpaint_only_masked"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidRequest(name, getattr(self, name), "must be true or false")
        if self.inpaint_fill not in INPAINT_FILLS:
            raise InvalidRequest(
                "inpaint_fill", self.inpaint_fill, f"must be one of: {', '.join(INPAINT_FILLS)}"
            )
        if self.mask is None:
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for name in MASK_OPTIONS:
                if getattr(self, name) != defaults[name]:
                    raise InvalidRequest(name, getattr(self, name), "applies only with a mask")

    def _check_hires_options(self) -> None:
        if not isinstance(self.tiling, bool):
            raise InvalidRequest("tiling", self.tiling, "must be true or false")
        if not _is_float(self.hires_scale) or not 1.0 <= self.hires_scale <= MAX_HIRES_SCALE:
            raise InvalidRequest(
                "hires_scale", self.hires_scale, f"must be a number from 1 to {MAX_HIRES_SCALE}"
            )
        object.__setattr__(self, "hires_scale", float(self.hires_scale))
        for name in ("hires_width", "hires_height"):
            value = getattr(self, name)
            if value is not None and (
                not _is_int(value) or value % 8 or not 8 <= value <= MAX_SIDE
            ):
                raise InvalidRequest(name, value, f"must be a multiple of 8 from 8 to {MAX_SIDE}")
        if not isinstance(self.hires_upscaler, str):
            raise InvalidRequest("hires_upscaler", self.hires_upscaler, "must be a string")
        object.__setattr__(
            self,
            "hires_upscaler",
            _canonical("hires_upscaler", self.hires_upscaler, canonical_hires_upscaler),
        )
        if not _is_int(self.hires_steps) or not 0 <= self.hires_steps <= MAX_STEPS:
            raise InvalidRequest(
                "hires_steps",
                self.hires_steps,
                f"must be an integer from 0 (as many as steps) to {MAX_STEPS}",
            )
        if not _is_float(self.hires_denoise) or not 0.0 <= self.hires_denoise <= 1.0:
            raise InvalidRequest(
                "hires_denoise", self.hires_denoise, "must be a number from 0 to 1"
            )
        object.__setattr__(self, "hires_denoise", float(self.hires_denoise))
        if not self.hires:
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for name in HIRES_OPTIONS:
                if getattr(self, name) != defaults[name]:
                    raise InvalidRequest(
                        name,
                        getattr(self, name),
                        "applies only with hires fix "
                        "(hires_scale > 1, hires_width or hires_height)",
                    )
            return
        if self.init_image is not None:
            raise InvalidRequest(
                "hires_scale",
                self.hires_scale,
                "hires fix is for txt2img; img2img has no hires pass",
            )
        if self.width is not None and self.height is not None:
            width, height = self.hires_size(self.width, self.height)
            if width * height * self.batch_size > MAX_BATCH_PIXELS:
                raise InvalidRequest(
                    "hires size*batch_size",
                    f"{width}x{height}x{self.batch_size}",
                    f"at most {MAX_BATCH_PIXELS} pixels per batch (memory estimate)",
                )

    @property
    def hires(self) -> bool:
        """Whether hires fix runs."""
        return self.hires_scale > 1 or self.hires_width is not None or self.hires_height is not None

    def hires_size(self, width: int, height: int) -> tuple[int, int]:
        """The final size for a first pass of width x height, as A1111 computes it: a
        given side wins (the other keeps the aspect ratio), else the scale; rounded
        down to a multiple of 8, capped at MAX_SIDE."""
        if self.hires_width and self.hires_height:
            size = (self.hires_width, self.hires_height)
        elif self.hires_width:
            size = (self.hires_width, self.hires_width * height / width)
        elif self.hires_height:
            size = (self.hires_height * width / height, self.hires_height)
        else:
            size = (width * self.hires_scale, height * self.hires_scale)
        return tuple(min(MAX_SIDE, max(8, int(side) // 8 * 8)) for side in size)  # type: ignore[return-value]

    # -- derived requests -------------------------------------------------------

    def with_seed(self) -> GenerationRequest:
        """The same request with a concrete seed (a random one when seed is -1)."""
        if self.seed != -1:
            return self
        return dataclasses.replace(self, seed=random.randrange(SEED_LIMIT))

    def seeds(self) -> list[int]:
        """Seeds s, s+1, … s+N-1: each batch image is reproducible alone."""
        if self.seed == -1:
            raise ValueError("resolve the seed first (with_seed)")
        return [(self.seed + i) % SEED_LIMIT for i in range(self.batch_size)]

    def without_hires(self) -> GenerationRequest:
        """The same request with hires fix off (every hires field at its default)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return self.replace(**{name: defaults[name] for name in ("hires_scale", *HIRES_OPTIONS)})

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    # -- JSON ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["loras"] = [str(lora) for lora in self.loras]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """The request a JSON object describes (a stored record, an image's metadata).

        The object may be hostile: anything but a request's own fields with values of
        their types ends in InvalidRequest, never in a TypeError."""
        if not isinstance(data, dict):
            raise InvalidRequest("request", data, "must be a JSON object of request fields")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(key) for key in set(data) - known)
        if unknown:
            raise InvalidRequest("request", ", ".join(unknown), _unknown_fields(unknown, known))
        if "prompt" not in data:
            raise InvalidRequest("prompt", None, "missing; every request has a prompt")
        data = dict(data)
        if data.get("loras") is None:  # JSON null, or absent: no LoRAs
            data["loras"] = ()
        return cls(**data)  # __post_init__ checks every value, loras' type included


MASK_OPTIONS = (
    "mask_blur",
    "mask_invert",
    "inpaint_fill",
    "inpaint_only_masked",
    "inpaint_padding",
)


HIRES_OPTIONS = (
    "hires_width",
    "hires_height",
    "hires_upscaler",
    "hires_steps",
    "hires_denoise",
)


def _unknown_fields(unknown: list[str], known: set[str]) -> str:
    """What to say about fields a request does not have: the likely intended ones, or
    the vocabulary's core (the whole list is too long for a one-line error)."""
    import difflib

    close = [m for name in unknown for m in difflib.get_close_matches(name, known, n=1)]
    if close:
        return f"unknown fields; did you mean: {', '.join(dict.fromkeys(close))}"
    core = ("prompt", "negative_prompt", "width", "height", "steps", "guidance_scale", "seed")
    return f"unknown fields; known: {', '.join(core)}, … ({len(known)} in all)"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value == value and value not in (float("inf"), float("-inf"))


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_text(value: object, field: str, *, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """`value` if it is text genlab may store and act on (see genlab.core.text)."""
    problem = text_problem(value, max_chars=max_chars)
    if problem is not None:
        raise InvalidRequest(field, value, problem)
    assert isinstance(value, str)
    return value


def check_json_texts(value: Any, field: str = "") -> None:
    """Every string of a JSON value, keys included, checked as `check_text` checks a
    prompt: for bodies stored or echoed whole (A1111 requests, options)."""
    if isinstance(value, str):
        check_text(value, field or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_name(key, "field name")  # first: the name goes into messages below
            check_json_texts(item, f"{field}.{key}" if field else key)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_json_texts(item, field)


def check_name(value: object, field: str) -> str:
    """A short name (model, palette, method, user): text of at most MAX_NAME_CHARS."""
    return check_text(value, field, max_chars=MAX_NAME_CHARS)


def _canonical(name: str, value: object, canonical) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(name, value, "must be a string")
    try:
        return canonical(value)
    except ValueError as err:
        raise InvalidRequest(name, value, str(err)) from None
