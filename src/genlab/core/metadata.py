"""Generation metadata: AUTOMATIC1111's `parameters` text and genlab's own JSON record.

The `parameters` text is what every Stable Diffusion tool reads and writes:

    a red circle on a blue background
    Negative prompt: blurry
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, ...

The genlab record (JSON) holds the full request for exact reproduction. Where each
lives inside PNG, JPEG and WebP files is `genlab.core.imageio`'s business; this module
turns results into text and records, and text and records back into requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genlab.core.errors import InvalidRequest, MetadataError
from genlab.core.imageio import ImageMetadata, read_metadata, save_image
from genlab.core.request import MAX_BATCH, SEED_LIMIT, GenerationRequest
from genlab.core.result import GenerationResult
from genlab.core.samplers import (
    canonical_hires_upscaler,
    canonical_sampler,
    canonical_schedule,
    split_legacy_sampler,
)
from genlab.core.text import brief

__all__ = [
    "ImageMetadata",
    "ParsedParameters",
    "format_parameters",
    "genlab_record",
    "infotext",
    "parse_parameters",
    "read_metadata",
    "request_from_metadata",
    "save_image",
    "version_string",
]

NEGATIVE_PREFIX = "Negative prompt:"

# A1111's order for the keys it knows (processing.create_infotext). Keys not listed
# (Hires …, Lora hashes, anything an engine adds) come after these, then Version, User.
KEY_ORDER: tuple[str, ...] = (
    "Steps",
    "Sampler",
    "Schedule type",
    "CFG scale",
    "Image CFG scale",
    "Seed",
    "Face restoration",
    "Size",
    "Model hash",
    "Model",
    "VAE hash",
    "VAE",
    "Variation seed",
    "Variation seed strength",
    "Seed resize from",
    "Denoising strength",
    "Conditional mask weight",
    "Clip skip",
    "ENSD",
    "Token merging ratio",
    "Token merging ratio hr",
    "Init image hash",
    "RNG",
    "NGMS",
    "Tiling",
)
TAIL_KEYS: tuple[str, ...] = ("Version", "User")

# A1111's reading rule: a key (word characters, spaces, '-' and '/'), a colon, then a
# JSON-quoted value or everything up to the next comma.
PARAM_PATTERN = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


def version_string() -> str:
    from genlab.core.version import __version__

    return f"genlab {__version__}"


# -- writing text ----------------------------------------------------------------------


def format_parameters(prompt: str, negative_prompt: str, params: Mapping[str, object]) -> str:
    """A1111's layout: prompt, `Negative prompt: …` (only when non-empty), params line.

    Values that are None are dropped; the rest are written with `_format_value`.
    """
    line = ", ".join(f"{key}: {_format_value(v)}" for key, v in params.items() if v is not None)
    negative = f"\n{NEGATIVE_PREFIX} {negative_prompt}" if negative_prompt else ""
    # A1111 strips the whole text, which also drops the newline when params are empty.
    return f"{prompt}{negative}\n{line}".strip()


def _format_value(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        text = str(int(value))  # 7.0 -> "7", as A1111 writes CFG scale
    elif isinstance(value, float):
        text = repr(value)  # shortest text that reads back as the same float
    else:
        text = str(value)
    # A1111 quotes values holding a separator. A leading quote is quoted too, or the
    # reader would JSON-decode a value that was never encoded.
    if any(ch in text for ch in ",:\n") or text.startswith('"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def infotext(result: GenerationResult, index: int) -> str:
    """The A1111 `parameters` text of image `index` of `result`.

    Keys for request fields the engine ignores (`result.unused`) are left out rather
    than claiming they mattered. "Schedule type" appears only when it is not
    "Automatic" (a missing schedule reads back as Automatic, in A1111 too).
    """
    request = result.request
    unused = result.unused
    params: dict[str, object] = {}
    if "steps" not in unused:
        params["Steps"] = request.steps
    if "sampler" not in unused:
        params["Sampler"] = request.sampler
        if "schedule" not in unused and request.schedule != "Automatic":
            params["Schedule type"] = request.schedule
    if "guidance_scale" not in unused:
        params["CFG scale"] = request.guidance_scale
    if "seed" not in unused:
        params["Seed"] = result.seeds[index]
    if not {"width", "height"} & unused:
        image = result.images[index]
        params["Size"] = f"{request.width or image.width}x{request.height or image.height}"
    params["Model hash"] = result.model_hash or None
    params["Model"] = result.model or None
    if request.init_image is not None and "strength" not in unused:
        params["Denoising strength"] = request.strength
    params.update(result.extra_params)
    params.setdefault("Version", version_string())
    negative = "" if "negative_prompt" in unused else result.negative_prompts[index]
    return format_parameters(result.prompts[index], negative, _in_a1111_order(params))


def _in_a1111_order(params: Mapping[str, object]) -> dict[str, object]:
    rank = {key: i for i, key in enumerate(KEY_ORDER)}
    known = sorted((k for k in params if k in rank), key=rank.__getitem__)
    extras = [k for k in params if k not in rank and k not in TAIL_KEYS]
    tail = [k for k in TAIL_KEYS if k in params]
    return {key: params[key] for key in (*known, *extras, *tail)}


def genlab_record(result: GenerationResult, index: int) -> dict[str, Any]:
    """The JSON record kept beside the A1111 text: enough to regenerate image `index`
    alone (its own seed, batch size 1) and to say where in its batch it came from."""
    request = result.request.replace(seed=result.seeds[index], batch_size=1)
    return {
        "version": version_string(),
        "request": request.to_dict(),  # prompt templates as typed, wildcards unexpanded
        "batch": {"size": len(result.images), "index": index, "seed": result.seeds[0]},
        "engine": result.engine,
        "model": result.model,
        "model_hash": result.model_hash,
        "prompt_used": result.prompts[index],
        "negative_prompt_used": result.negative_prompts[index],
        "timings": dict(result.timings),
        "extra_params": {k: _json_safe(v) for k, v in result.extra_params.items()},
    }


def _json_safe(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


# -- reading text ----------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedParameters:
    prompt: str
    negative_prompt: str
    params: dict[str, str] = field(default_factory=dict)


def parse_parameters(text: str) -> ParsedParameters:
    """Split A1111 `parameters` text into prompt, negative prompt and params.

    As in A1111: the last line is the params line only if it holds at least three
    `key: value` pairs; every line before it belongs to the prompt until one starts
    with "Negative prompt:", and to the negative prompt from there on. Lines are
    stripped; quoted values are JSON-decoded. `Size` stays "WxH".
    """
    *lines, last = text.strip().split("\n")
    pairs = _param_pairs(last)
    if len(pairs) < 3:
        lines.append(last)
        pairs = []
    prompt = negative = ""
    in_negative = False
    for raw in lines:
        line = raw.strip()
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].strip()
        if in_negative:
            negative = f"{negative}\n{line}" if negative else line
        else:
            prompt = f"{prompt}\n{line}" if prompt else line
    return ParsedParameters(prompt, negative, {key: _unquote(value) for key, value in pairs})


# The key of PARAM_PATTERN alone: the run of key characters a match attempt scans.
_KEY_RUN = re.compile(r"\s*\w[\w \-/]*")


def _param_pairs(line: str) -> list[tuple[str, str]]:
    """`PARAM_PATTERN.findall(line)`, in time linear in the line's length.

    findall retries a failed match one character further on. On a long run of key
    characters with no colon after it, every retry rescans the rest of the run: time
    quadratic in its length (16,000 characters took seconds, a 1 MB text chunk hours).
    A match can only fail in its key (any value matches), and every start inside the
    same run reaches the same end without a colon, so the scan skips the whole run."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        match = PARAM_PATTERN.match(line, pos)
        if match is not None:
            pairs.append(match.groups())
            pos = match.end()
            continue
        run = _KEY_RUN.match(line, pos)
        pos = run.end() if run is not None else pos + 1
    return pairs


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value  # not JSON after all: the text is what was written
        if isinstance(decoded, str):
            return decoded
    return value


# -- metadata -> request ---------------------------------------------------------------


def request_from_metadata(meta: ImageMetadata) -> GenerationRequest:
    """The request that regenerates an image: exactly, from a genlab record; as
    closely as A1111's text allows otherwise."""
    try:
        if meta.record is not None:
            return _request_from_record(meta)
        if meta.parameters is not None:
            return _request_from_parameters(meta.parameters, meta.origin)
    except InvalidRequest as err:
        raise MetadataError(f"{meta.origin}: stored {err}") from None
    other = f"; it carries {meta.source} metadata, which genlab does not convert"
    raise MetadataError(
        f"{meta.origin} has no generation parameters (no A1111 'parameters' or genlab chunk)"
        + (other if meta.source != "none" else "")
    )


def _request_from_record(meta: ImageMetadata) -> GenerationRequest:
    data = meta.record.get("request") if meta.record else None
    if not isinstance(data, dict):
        raise MetadataError(f"{meta.origin}: the genlab record has no 'request' object")
    _check_batch(meta.record.get("batch"), meta.origin)
    return GenerationRequest.from_dict(data)


def _check_batch(batch: object, origin: str) -> None:
    """The record's batch note, which says how to reproduce an image of a batch: absent,
    or {"size": 1..MAX_BATCH, "index": 0..size-1, "seed": a seed}."""
    if batch is None:
        return
    fields = batch if isinstance(batch, dict) else {}
    size, index, seed = (fields.get(key) for key in ("size", "index", "seed"))
    if not (
        _is_int(size)
        and 1 <= size <= MAX_BATCH
        and _is_int(index)
        and 0 <= index < size
        and _is_int(seed)
        and 0 <= seed < SEED_LIMIT
    ):
        raise MetadataError(
            f"{origin}: the genlab record's batch={brief(batch)} is unreadable: expected "
            f'{{"size": 1 to {MAX_BATCH}, "index": 0 to size-1, "seed": 0 to {SEED_LIMIT - 1}}}'
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _request_from_parameters(text: str, origin: str) -> GenerationRequest:
    parsed = parse_parameters(text)
    params = parsed.params
    if not params:
        raise MetadataError(f"{origin} has text but no A1111 parameter line (Steps: …, Seed: …)")
    fields: dict[str, Any] = {"prompt": parsed.prompt, "negative_prompt": parsed.negative_prompt}
    if "Steps" in params:
        fields["steps"] = _number(params, "Steps", int, origin)
    if params.get("Sampler", "").strip() == "procedural":
        pass  # a Shapes World image: no sampler ran, any request field will do
    elif "Sampler" in params:
        fields["sampler"], fields["schedule"] = _sampler(params, origin)
    elif "Schedule type" in params:
        fields["schedule"] = _schedule(params["Schedule type"], origin)
    if "CFG scale" in params:
        fields["guidance_scale"] = _number(params, "CFG scale", float, origin)
    if "Seed" in params:
        fields["seed"] = _number(params, "Seed", int, origin)
    if "Size" in params:
        match = _SIZE.match(params["Size"])
        if match is None:
            raise MetadataError(f"{origin}: Size={params['Size']!r} is not WIDTHxHEIGHT")
        fields["width"], fields["height"] = int(match.group(1)), int(match.group(2))
    if params.get("Model"):
        fields["model"] = params["Model"]
    if "Clip skip" in params:
        fields["clip_skip"] = _number(params, "Clip skip", int, origin)
    if params.get("Tiling", "").strip().lower() == "true":
        fields["tiling"] = True
    # With hires fix, A1111 txt2img also writes Denoising strength (for the second
    # pass); only without it is the value an img2img strength.
    hires = any(k.startswith("Hires") for k in params)
    if hires:
        fields.update(_hires_fields(params, origin))
    if "Denoising strength" in params:
        key = "hires_denoise" if hires else "strength"
        fields[key] = _number(params, "Denoising strength", float, origin)
    return GenerationRequest(**fields)


def _hires_fields(params: Mapping[str, str], origin: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "Hires upscale" in params:
        fields["hires_scale"] = _number(params, "Hires upscale", float, origin)
    if "Hires resize" in params:
        match = _SIZE.match(params["Hires resize"])
        if match is None:
            raise MetadataError(
                f"{origin}: Hires resize={params['Hires resize']!r} is not WIDTHxHEIGHT"
            )
        fields["hires_width"] = int(match.group(1)) or None  # A1111 writes 0 for "keep ratio"
        fields["hires_height"] = int(match.group(2)) or None
    if "Hires steps" in params:
        fields["hires_steps"] = _number(params, "Hires steps", int, origin)
    if "Hires upscaler" in params:
        name = params["Hires upscaler"].strip()
        try:
            fields["hires_upscaler"] = canonical_hires_upscaler(name)
        except ValueError:
            # An upscaler genlab does not have (an ESRGAN model): the closest it has,
            # an image upscale, rather than refusing to read the image at all.
            fields["hires_upscaler"] = "Latent" if name.startswith("Latent") else "Lanczos"
    return fields


def _sampler(params: Mapping[str, str], origin: str) -> tuple[str, str]:
    name = params["Sampler"].strip()
    try:
        sampler = canonical_sampler(name)
        schedule = "Automatic"
    except ValueError:
        # Before A1111 1.9 the schedule was part of the name: "DPM++ 2M Karras".
        base, schedule = split_legacy_sampler(name)
        try:
            sampler = canonical_sampler(base)
        except ValueError as err:
            raise MetadataError(
                f"{origin}: sampler {name!r} is not known to genlab; {err}"
            ) from None
    if "Schedule type" in params:
        schedule = params["Schedule type"]
    return sampler, _schedule(schedule, origin)


def _schedule(name: str, origin: str) -> str:
    try:
        return canonical_schedule(name)
    except ValueError as err:
        raise MetadataError(
            f"{origin}: schedule type {name!r} is not known to genlab; {err}"
        ) from None


def _number(params: Mapping[str, str], key: str, kind: type, origin: str) -> Any:
    try:
        return kind(params[key].strip())
    except ValueError:
        raise MetadataError(
            f"{origin}: {key}={params[key]!r} is not {'an integer' if kind is int else 'a number'}"
        ) from None
