"""A1111's listing endpoints under /sdapi/v1: what a server has.

A1111 clients read these at start-up and fail on a 404. genlab lists what it has (its
upscalers, the machine's memory) and answers for what it does not have (face
restorers, hypernetworks, textual-inversion embeddings, extra VAEs, scripts,
extensions) as A1111 does when none are installed: an empty list or mapping.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from genlab.services import catalog, tools

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


@router.get("/prompt-styles")
def prompt_styles() -> list[dict[str, str]]:
    return []  # no saved styles (a request that names styles is refused with a 422)


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
