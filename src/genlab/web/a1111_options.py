"""A1111's option names (modules/shared_options.py) with genlab's values, and what each
one does here.

Every option has a kind that says how genlab treats a value a client sets:
- "honoured": stored and applied to the images genlab makes;
- "stored": stored and read back, not applied (said so on the compatibility page);
- "fixed": genlab's value is the only one it can honour; setting it to anything else
  is refused with a 4xx that says why, so a client never believes it took effect.
Keys genlab does not know are stored and read back as A1111 does with extensions'
options, within the size limits below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genlab.core.errors import InvalidRequest
from genlab.core.request import DEFAULT_MODEL, SEED_LIMIT

SAMPLES_FORMATS = ("png", "jpg", "webp")  # what the store and the metadata writer take
MAX_CLIP_SKIP = 12  # SD 1.x's text encoder has 12 layers; A1111's slider stops there
MAX_OPTIONS = 512  # stored keys, known and unknown together
MAX_VALUE_CHARS = 4096  # one option's JSON


@dataclass(frozen=True)
class OptionSpec:
    default: Any
    kind: str  # "honoured", "stored" or "fixed"
    check: Callable[[str, Any], Any]
    note: str  # what genlab does with it, for the compatibility page


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(name, value, "must be true or false")
    return value


def _int_in(low: int, high: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        # A float such as 2.0 is how some JSON writers send an integer.
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidRequest(name, value, f"must be an integer from {low} to {high}")
        return value

    return check


def _float_in(low: float, high: float) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not low <= float(value) <= high:
            raise InvalidRequest(name, value, f"must be a number from {low} to {high}")
        return float(value)

    return check


def _one_of(*choices: str) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise InvalidRequest(name, value, f"must be one of: {', '.join(choices)}")
        return value

    return check


def _model(name: str, value: Any) -> str:
    # Which models exist is the catalog's to say: genlab.web.options checks the name.
    if not isinstance(value, str):
        raise InvalidRequest(name, value, "must be a model name from /sdapi/v1/sd-models")
    return value


def _fixed(value: Any, why: str) -> OptionSpec:
    def check(name: str, given: Any) -> Any:
        # 0 and 0.0 are one value in JSON; true and 1 are not.
        if given != value or isinstance(given, bool) != isinstance(value, bool):
            raise InvalidRequest(name, given, f"only {value!r} is possible: {why}")
        return given

    return OptionSpec(value, "fixed", check, why)


def _stored(default: Any, check: Callable[[str, Any], Any], note: str) -> OptionSpec:
    return OptionSpec(default, "stored", check, note)


_NO_FOLDERS = "every image goes to the studio's gallery; server folders are not settable"
_NOT_APPLIED = "stored for clients; genlab does not apply it"

OPTIONS: dict[str, OptionSpec] = {
    "sd_model_checkpoint": OptionSpec(
        DEFAULT_MODEL, "honoured", _model, "the model jobs use when a request names none"
    ),
    "samples_format": OptionSpec(
        "png", "honoured", _one_of(*SAMPLES_FORMATS), "the format generated images are stored in"
    ),
    "CLIP_stop_at_last_layers": OptionSpec(
        1,
        "honoured",
        _int_in(1, MAX_CLIP_SKIP),
        "clip skip for requests that set none (the request's clip_skip)",
    ),
    "eta_noise_seed_delta": _stored(
        0,
        _int_in(0, SEED_LIMIT - 1),
        "stored; genlab's samplers draw their noise from the seed alone (no ENSD)",
    ),
    "jpeg_quality": _stored(95, _int_in(1, 100), "stored; JPEG and WebP are written at 95"),
    "webp_lossless": _fixed(False, "WebP images are written lossy at quality 95"),
    "send_seed": _stored(True, _bool, "a browser-UI setting; " + _NOT_APPLIED),
    "send_size": _stored(True, _bool, "a browser-UI setting; " + _NOT_APPLIED),
    "samples_save": _fixed(True, "every generated image is kept in the gallery"),
    "save_images_add_number": _stored(True, _bool, _NOT_APPLIED),
    "grid_save": _fixed(False, "grids are not saved; sweeps make contact sheets"),
    "grid_format": _fixed("png", "contact sheets are PNG"),
    "enable_pnginfo": _fixed(True, "every image carries its parameters"),
    "save_txt": _fixed(False, "parameters live in the image and the gallery, not .txt files"),
    "outdir_samples": _fixed("", _NO_FOLDERS),
    "outdir_txt2img_samples": _fixed("", _NO_FOLDERS),
    "outdir_img2img_samples": _fixed("", _NO_FOLDERS),
    "outdir_extras_samples": _fixed("", _NO_FOLDERS),
    "outdir_grids": _fixed("", _NO_FOLDERS),
    "outdir_txt2img_grids": _fixed("", _NO_FOLDERS),
    "outdir_img2img_grids": _fixed("", _NO_FOLDERS),
    "outdir_save": _fixed("", _NO_FOLDERS),
    "outdir_init_images": _fixed("", _NO_FOLDERS),
    "sd_vae": _fixed("Automatic", "each model uses its own autoencoder"),
    "sd_vae_as_default": _fixed(True, "each model uses its own autoencoder"),
    "sd_hypernetwork": _fixed("None", "hypernetworks are not supported"),
    "face_restoration": _fixed(False, "no face restorer is installed"),
    "face_restoration_model": _fixed(None, "no face restorer is installed"),
    "sd_checkpoint_cache": _stored(0, _int_in(0, 64), _NOT_APPLIED + " (models stay loaded)"),
    "eta_ddim": _stored(0.0, _float_in(0.0, 1.0), _NOT_APPLIED),
    "eta_ancestral": _stored(1.0, _float_in(0.0, 1.0), _NOT_APPLIED),
    "s_churn": _stored(0.0, _float_in(0.0, 100.0), _NOT_APPLIED),
    "s_noise": _stored(1.0, _float_in(0.0, 1.1), _NOT_APPLIED),
    "img2img_fix_steps": _stored(False, _bool, _NOT_APPLIED),
    "enable_emphasis": _fixed(True, "(word:1.2) weights are always read"),
    "token_merging_ratio": _fixed(0.0, "token merging is not supported"),
    "live_previews_enable": _stored(True, _bool, "previews are always made; " + _NOT_APPLIED),
    "show_progress_every_n_steps": _stored(5, _int_in(-1, 1000), _NOT_APPLIED),
    "upscaler_for_img2img": _stored(None, lambda n, v: v, _NOT_APPLIED),
    "quicksettings_list": _stored(
        ["sd_model_checkpoint"], lambda n, v: _list_of_text(n, v), "a browser-UI setting"
    ),
}


def _list_of_text(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest(name, value, "must be a list of names")
    return value


def defaults() -> dict[str, Any]:
    return {name: spec.default for name, spec in OPTIONS.items()}


def check_option(name: str, value: Any) -> Any:
    """`value` as stored for option `name`, or InvalidRequest naming what is allowed.
    An unknown option may hold any JSON value."""
    spec = OPTIONS.get(name)
    return value if spec is None else spec.check(name, value)
