"""AUTOMATIC1111's HTTP API, translated to and from genlab's jobs and images.

Shapes follow A1111's modules/api/models.py: txt2img/img2img answer
`{"images": [base64 PNG], "parameters": {request}, "info": "<JSON string>"}`, where
info carries prompt, all_prompts, seed, all_seeds, infotexts, sampler_name, steps,
cfg_scale, width, height, sd_model_name, …; png-info answers `{"info", "items",
"parameters"}`; progress answers `{"progress", "eta_relative", "state",
"current_image", "textinfo"}`.

One deliberate difference: fields a client leaves out take the model's tuned
defaults (size, steps, CFG), not A1111's 512x512 / 50 steps / CFG 7, which suit
Stable Diffusion 1.5 and not genlab's small models.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from genlab.core.errors import InvalidRequest
from genlab.core.request import INPAINT_FILLS
from genlab.core.samplers import SAMPLERS, canonical_sampler, split_legacy_sampler
from genlab.web.models import Image, Job
from genlab.web.progress import LiveJob

# k-diffusion style names A1111 lists as aliases (sd_samplers_kdiffusion.py).
SAMPLER_ALIASES: dict[str, list[str]] = {
    "Euler": ["k_euler"],
    "Euler a": ["k_euler_a", "k_euler_ancestral"],
    "Heun": ["k_heun"],
    "LMS": ["k_lms"],
    "DPM2": ["k_dpm_2"],
    "DPM2 a": ["k_dpm_2_a"],
    "DPM++ 2M": ["k_dpmpp_2m"],
    "DPM++ 2M SDE": ["k_dpmpp_2m_sde"],
    "DPM++ SDE": ["k_dpmpp_sde"],
    "DDIM": ["ddim"],
    "PLMS": ["plms"],
    "UniPC": ["unipc"],
}
_BY_ALIAS = {alias: name for name, aliases in SAMPLER_ALIASES.items() for alias in aliases}


def samplers() -> list[dict[str, Any]]:
    return [{"name": n, "aliases": SAMPLER_ALIASES.get(n, []), "options": {}} for n in SAMPLERS]


def sampler_fields(sampler_name: str | None, scheduler: str | None) -> dict[str, str]:
    """genlab's sampler and schedule from A1111's sampler_name (any era) and scheduler."""
    found: dict[str, str] = {}
    if sampler_name:
        name = _BY_ALIAS.get(sampler_name.strip().lower(), sampler_name.strip())
        try:
            found["sampler"] = canonical_sampler(name)
        except ValueError:
            # Before A1111 1.9 the schedule was part of the name: "DPM++ 2M Karras".
            base, schedule = split_legacy_sampler(name)
            found["sampler"], found["schedule"] = base, schedule
    if scheduler:
        # The 1.9+ API takes labels ("Karras") or names ("karras", "sgm_uniform").
        found["schedule"] = scheduler.replace("_", " ")
    return found


def request_fields(body: dict[str, Any], *, img2img: bool) -> tuple[dict[str, Any], int]:
    """GenerationRequest fields and n_iter from an A1111 txt2img/img2img body."""
    fields: dict[str, Any] = {
        "prompt": body.get("prompt") or "",
        "negative_prompt": body.get("negative_prompt") or "",
        "seed": -1 if body.get("seed") is None else body["seed"],
        "batch_size": body.get("batch_size") or 1,
        "steps": body.get("steps"),
        "guidance_scale": body.get("cfg_scale"),
        "width": body.get("width"),
        "height": body.get("height"),
    }
    fields.update(
        sampler_fields(body.get("sampler_name") or body.get("sampler_index"), body.get("scheduler"))
    )
    overrides = body.get("override_settings") or {}
    if not isinstance(overrides, dict):
        raise InvalidRequest("override_settings", overrides, "must be an object")
    if overrides.get("sd_model_checkpoint"):
        fields["model"] = overrides["sd_model_checkpoint"]
    if img2img and body.get("denoising_strength") is not None:
        fields["strength"] = body["denoising_strength"]
    if img2img and body.get("mask"):
        fields.update(mask_fields(body))
    if "CLIP_stop_at_last_layers" in overrides:
        fields["clip_skip"] = overrides["CLIP_stop_at_last_layers"]
    if body.get("tiling") is not None:
        fields["tiling"] = body["tiling"]
    if not img2img:
        fields.update(hires_fields(body))
    return {k: v for k, v in fields.items() if v is not None}, int(body.get("n_iter") or 1)


def hires_fields(body: dict[str, Any]) -> dict[str, Any]:
    """GenerationRequest's hires fix from A1111's enable_hr and hr_* fields (ignored, as
    A1111 ignores them, unless enable_hr is true); denoising_strength is the second
    pass's there."""
    enable = body.get("enable_hr", False)
    if not isinstance(enable, bool):
        raise InvalidRequest("enable_hr", enable, "must be true or false")
    if not enable:
        return {}
    upscaler = body.get("hr_upscaler") or "Latent"
    fields: dict[str, Any] = {
        "hires_scale": 2.0 if body.get("hr_scale") is None else body["hr_scale"],
        # A1111's "None" upscaler leaves the resize to a plain Lanczos resample.
        "hires_upscaler": "Lanczos" if upscaler == "None" else upscaler,
        "hires_steps": body.get("hr_second_pass_steps") or 0,
        "hires_denoise": body.get("denoising_strength"),
    }
    for axis, name in (("x", "hires_width"), ("y", "hires_height")):
        value = body.get(f"hr_resize_{axis}")
        if value:  # 0, A1111's default, means "use hr_scale"
            fields[name] = value
    if fields.get("hires_width") or fields.get("hires_height"):
        fields["hires_scale"] = 1.0  # a given size wins over the scale, as in A1111
    return {k: v for k, v in fields.items() if v is not None}


def mask_fields(body: dict[str, Any]) -> dict[str, Any]:
    """GenerationRequest's mask options from A1111's, with A1111's API defaults (blur 4,
    "fill", only masked, padding 0), which differ from genlab's own."""
    blur = body.get("mask_blur")
    if blur is None:
        blur_x, blur_y = body.get("mask_blur_x", 4), body.get("mask_blur_y", 4)
        if blur_x != blur_y:
            raise InvalidRequest(
                "mask_blur_x", blur_x, f"must equal mask_blur_y ({blur_y}): one blur for both axes"
            )
        blur = blur_x
    fill = body.get("inpainting_fill", 0)
    if isinstance(fill, bool) or fill not in range(len(INPAINT_FILLS)):
        choices = ", ".join(f"{i} ({name})" for i, name in enumerate(INPAINT_FILLS))
        raise InvalidRequest("inpainting_fill", fill, f"must be one of {choices}")
    invert = body.get("inpainting_mask_invert", 0)
    if isinstance(invert, bool) or invert not in (0, 1):
        raise InvalidRequest(
            "inpainting_mask_invert", invert, "must be 0 (masked) or 1 (not masked)"
        )
    return {
        "mask_blur": blur,
        "mask_invert": invert == 1,
        "inpaint_fill": INPAINT_FILLS[fill],
        "inpaint_only_masked": bool(body.get("inpaint_full_res", True)),
        "inpaint_padding": body.get("inpaint_full_res_padding", 0),
    }


def info(
    job: Job,
    images: list[Image],
    request: dict[str, Any],
    model_hash: str | None,
    styles: list[str] | None = None,
) -> str:
    """The `info` JSON string of a txt2img/img2img answer (A1111's Processed.js());
    `styles` are the names of the prompt styles merged into the prompts."""
    seeds = [image.seed for image in images]
    started = job.started_at or job.created_at
    first = images[0] if images else None
    return json.dumps(
        {
            "prompt": first.prompt if first else request.get("prompt", ""),
            "all_prompts": [image.prompt for image in images],
            "negative_prompt": first.negative_prompt if first else "",
            "all_negative_prompts": [image.negative_prompt for image in images],
            "seed": seeds[0] if seeds else request.get("seed"),
            "all_seeds": seeds,
            "subseed": seeds[0] if seeds else -1,  # variation seeds are not supported
            "all_subseeds": seeds,
            "subseed_strength": 0,
            "width": first.width if first else request.get("width"),
            "height": first.height if first else request.get("height"),
            "sampler_name": request.get("sampler"),
            "cfg_scale": request.get("guidance_scale"),
            "steps": request.get("steps"),
            "batch_size": request.get("batch_size", 1),
            "restore_faces": False,
            "face_restoration_model": None,
            "sd_model_name": first.model if first else job.model,
            "sd_model_hash": model_hash,
            "sd_vae_name": None,
            "sd_vae_hash": None,
            "seed_resize_from_w": -1,
            "seed_resize_from_h": -1,
            "denoising_strength": request.get("strength") if job.kind == "img2img" else None,
            "extra_generation_params": _extra(request),
            "index_of_first_image": 0,
            "infotexts": [image.parameters for image in images],
            "styles": list(styles or []),
            "job_timestamp": started.strftime("%Y%m%d%H%M%S"),
            "clip_skip": request.get("clip_skip") or 1,
            "is_using_inpainting_conditioning": bool(request.get("mask")),
            "version": _version(),
        }
    )


def interrupted_info(info_json: str, partial: list[str]) -> str:
    """An interrupted job's info: its infotexts are the partial images' own (each says
    "Interrupted: at step N of M"), and `interrupted` is true."""
    import io

    from PIL import Image as PILImage

    data = json.loads(info_json)
    texts = []
    for encoded in partial:  # written by this server's worker, so safe to decode
        with PILImage.open(io.BytesIO(base64.b64decode(encoded))) as image:
            texts.append(str(image.info.get("parameters", "")))
    seeds = [_seed_of(text) for text in texts]
    data.update(
        interrupted=True,
        infotexts=texts,
        all_seeds=[s for s in seeds if s is not None] or data["all_seeds"],
        all_prompts=[data["prompt"]] * len(texts),
        all_negative_prompts=[data["negative_prompt"]] * len(texts),
    )
    return json.dumps(data)


def _seed_of(text: str) -> int | None:
    from genlab.core.metadata import parse_parameters

    seed = parse_parameters(text).params.get("Seed") if text else None
    return int(seed) if seed and seed.isdigit() else None


def _extra(request: dict[str, Any]) -> dict[str, Any]:
    schedule = request.get("schedule")
    return {"Schedule type": schedule} if schedule and schedule != "Automatic" else {}


def _version() -> str:
    from genlab.core.metadata import version_string

    return version_string()


def png_info(image: Any) -> dict[str, Any]:
    """A1111's png-info answer for a decoded PIL image."""
    from genlab.core.imageio import read_metadata

    meta = read_metadata(image)
    text = meta.parameters or ""
    items = {
        key: value
        for key, value in image.info.items()
        if isinstance(key, str) and isinstance(value, str) and key != "parameters"
    }
    return {"info": text, "items": items, "parameters": parse_generation_parameters(text)}


def parse_generation_parameters(text: str) -> dict[str, Any]:
    """A1111's parsed form: Prompt, Negative prompt, each key, Size-1 / Size-2."""
    from genlab.core.metadata import parse_parameters

    if not text:
        return {}
    parsed = parse_parameters(text)
    result: dict[str, Any] = {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt}
    for key, value in parsed.params.items():
        result[key] = value
        if key == "Size" and "x" in value:
            result["Size-1"], _, result["Size-2"] = (part.strip() for part in value.partition("x"))
    return result


def progress(live: LiveJob | None, cancelling: bool, *, with_image: bool) -> dict[str, Any]:
    idle = {
        "skipped": False,
        "interrupted": False,
        "stopping_generation": False,
        "job": "",
        "job_count": 0,
        "job_timestamp": "0",
        "job_no": 0,
        "sampling_step": 0,
        "sampling_steps": 0,
    }
    if live is None:
        return {
            "progress": 0.0,
            "eta_relative": 0.0,
            "state": idle,
            "current_image": None,
            "textinfo": None,
        }
    per_iteration = live.total // max(live.iterations, 1) if live.total else 0
    state = {
        **idle,
        "interrupted": cancelling,
        "job": f"job {live.job_id}",
        "job_count": live.iterations,
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(live.started_wall)),
        "job_no": live.iteration,
        "sampling_step": live.step - live.iteration * per_iteration if per_iteration else 0,
        "sampling_steps": per_iteration,
    }
    fraction = live.fraction
    elapsed = time.monotonic() - live.started
    eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
    image = None
    if with_image and live.preview_png is not None:
        image = base64.b64encode(live.preview_png).decode("ascii")
    return {
        "progress": fraction,
        "eta_relative": eta,
        "state": state,
        "current_image": image,
        "textinfo": f"step {live.step} of {live.total}" if live.total else "starting",
    }


def sd_models() -> list[dict[str, Any]]:
    """A1111's checkpoint list. Hashes are given where they are cheap: the built-in
    engines; hashing a multi-gigabyte checkpoint on a GET would stall the server."""
    from genlab.services.catalog import local_models

    found = []
    for model in local_models():
        sha = _cheap_sha256(model.name)
        short = sha[:10] if sha else None
        found.append(
            {
                "title": f"{model.name} [{short}]" if short else model.name,
                "model_name": model.name,
                "hash": short,
                "sha256": sha,
                "filename": model.name,
                "config": None,
            }
        )
    return found


def _cheap_sha256(name: str) -> str | None:
    import hashlib

    if name == "procedural":
        from genlab.services.catalog import world_version

        return hashlib.sha256(world_version().encode()).hexdigest()
    if name == "builtin":
        from genlab.services.catalog import builtin_sha256

        # The folder's hash as the engine computes it, without loading torch to find it.
        return builtin_sha256()
    if name == "gan":
        from genlab.services.catalog import gan_sha256

        return gan_sha256()
    return None


def encode_file(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
