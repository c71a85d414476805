"""A1111's listing endpoints under /sdapi/v1: what a server has.

A1111 clients read these at start-up and fail on a 404. genlab lists what it has (its
upscalers, prompt styles, schedule types, the flags that describe this server, the
machine's memory) and answers for what it does not have (face restorers,
hypernetworks, textual-inversion embeddings, extra VAEs, scripts, extensions) as
A1111 does when none are installed: an empty list or mapping.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from genlab.services import catalog, tools
from genlab.web import styles
from genlab.web.deps import SessionDep, StudioDep
from genlab.web.settings import LOOPBACK_HOSTS

router = APIRouter(prefix="/sdapi/v1", tags=["a1111"])


class UpscalerItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    model_name: str | None
    model_path: str | None  # A1111 gives a server path; genlab shows none
    model_url: str | None
    scale: float


class EmbeddingsResponse(BaseModel):
    loaded: dict[str, Any]
    skipped: dict[str, Any]


class ScriptsResponse(BaseModel):
    txt2img: list[str]
    img2img: list[str]


class MemoryResponse(BaseModel):
    ram: dict[str, Any]
    cuda: dict[str, Any]


@router.get("/upscalers")
def upscalers() -> list[UpscalerItem]:
    """genlab's upscalers, by the names `genlab upscale --model` and the studio take."""
    return [
        UpscalerItem(name=name, model_name=name, model_path=None, model_url=None, scale=scale)
        for name, scale in tools.upscaler_scales()
    ]


@router.get("/latent-upscale-modes")
def latent_upscale_modes() -> list[dict[str, str]]:
    return []  # genlab upscales images, not latents


class PromptStyleItem(BaseModel):
    name: str
    prompt: str
    negative_prompt: str


@router.get("/prompt-styles")
def prompt_styles(session: SessionDep) -> list[PromptStyleItem]:
    """genlab's descriptor presets ("lighting: soft light", …) and imported styles;
    txt2img and img2img take these names in `styles`."""
    return [
        PromptStyleItem(name=s.name, prompt=s.prompt, negative_prompt=s.negative_prompt)
        for s in styles.all_styles(session).values()
    ]


@router.get("/cmd-flags")
def cmd_flags(studio: StudioDep) -> dict[str, Any]:
    """A1111's command-line flags with the values that describe this server. Folders
    are not shown (null), as the upscaler list shows no server paths."""
    settings = studio.settings
    return {
        **dict.fromkeys(_FOLDER_FLAGS),
        **dict.fromkeys(_OFF_FLAGS, False),
        "api": True,
        "nowebui": False,  # the studio pages are served beside the API
        "listen": settings.host not in LOOPBACK_HOSTS,
        "server_name": settings.host,
        "port": settings.port,
        "api_auth": "token" if settings.token else None,
        "gradio_auth": None,
        "disable_safe_unpickle": False,  # pickled checkpoints need --allow-pickle
        "no_download_sd_model": True,  # models are never downloaded by the server
        "skip_version_check": True,
        "hide_ui_dir_config": True,
        "freeze_settings": False,
        "subpath": None,
        "cors_allow_origins": None,
        "cors_allow_origins_regex": None,
        "tls_keyfile": None,
        "tls_certfile": None,
        "device_id": None,
        "use_cpu": [],
    }


# Flags that name folders: genlab keeps data in its data folder and shows no paths.
_FOLDER_FLAGS = (
    *("data_dir", "models_dir", "ckpt_dir", "ckpt", "vae_dir", "vae_path", "embeddings_dir"),
    *("hypernetwork_dir", "lora_dir", "styles_file", "ui_config_file", "ui_settings_file"),
    *("gfpgan_models_path", "codeformer_models_path", "esrgan_models_path"),
    *("realesrgan_models_path", "clip_models_path"),
)
# Switches for features genlab does not have, or behaviour it does not change.
_OFF_FLAGS = (
    *("share", "lowvram", "medvram", "medvram_sdxl", "lowram", "xformers", "force_enable_xformers"),
    *("opt_sdp_attention", "no_half", "no_half_vae", "upcast_sampling", "autolaunch"),
    *("enable_insecure_extension_access", "disable_all_extensions", "api_log", "allow_code"),
    *("ui_debug_mode", "administrator", "disable_console_progressbars", "reinstall_torch"),
)


@router.get("/schedulers")
def schedulers() -> list[dict[str, Any]]:
    """Schedule types (A1111 1.9+), by the labels `scheduler` takes."""
    from genlab.core.samplers import SCHEDULES

    return [
        {
            "name": label.lower().replace(" ", "_"),
            "label": label,
            "aliases": None,
            "default_rho": -1,
            "need_inner_model": False,
        }
        for label in SCHEDULES
    ]


@router.get("/sd-modules")
def sd_modules() -> list[dict[str, Any]]:
    return []  # no separate VAE or text-encoder files: each model brings its own


@router.post("/refresh-embeddings")
def refresh_embeddings() -> None:
    return None  # no textual-inversion embeddings are loaded by name


@router.get("/embeddings")
def embeddings() -> EmbeddingsResponse:
    return EmbeddingsResponse(loaded={}, skipped={})


@router.get("/hypernetworks")
def hypernetworks() -> list[dict[str, str]]:
    return []


@router.get("/face-restorers")
def face_restorers() -> list[dict[str, str | None]]:
    return []  # GFPGAN/CodeFormer weights cannot be had here


@router.get("/realesrgan-models")
def realesrgan_models() -> list[dict[str, Any]]:
    return []  # RealESRGAN files run through /upscalers' model-file path, not by name


@router.get("/sd-vae")
def sd_vae() -> list[dict[str, str]]:
    return []  # each model uses its own autoencoder


@router.get("/loras")
def loras() -> list[dict[str, Any]]:
    return []  # LoRAs are given per request by file (genlab generate --lora)


@router.get("/scripts")
def scripts() -> ScriptsResponse:
    return ScriptsResponse(txt2img=[], img2img=[])


@router.get("/script-info")
def script_info() -> list[dict[str, Any]]:
    return []


@router.get("/extensions")
def extensions() -> list[dict[str, Any]]:
    return []


@router.post("/refresh-vae")
def refresh_vae() -> None:
    return None  # nothing is cached to refresh


@router.post("/refresh-loras")
def refresh_loras() -> None:
    return None


@router.get("/memory")
def memory() -> MemoryResponse:
    """The machine's RAM (system-wide, where A1111 counts its process) and CUDA's."""
    return MemoryResponse(**catalog.memory())
