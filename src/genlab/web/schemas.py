"""The genlab JSON API's request (Create) and response (Public) shapes.

Field names are the project's vocabulary (prompt, negative_prompt, steps,
guidance_scale, sampler, seed, width, height). Fields left out take the model's
tuned defaults. Validation of values happens once, in GenerationRequest; these
schemas only fix the shapes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from genlab.web.jobs import JobView
from genlab.web.models import Image


class _Create(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _GenerationFields(_Create):
    prompt: str = ""
    negative_prompt: str = ""
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    sampler: str | None = None
    schedule: str | None = None
    seed: int = -1
    batch_size: int = 1
    n_iter: int = Field(default=1, description="Batches run one after another (A1111's n_iter).")
    model: str | None = Field(default=None, description="Left out: the server's default model.")

    def request_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind", "n_iter", *_IMAGE_FIELDS}, exclude_none=True)


_IMAGE_FIELDS = ("init_image", "init_image_id", "mask", "mask_id")


class GenerateJobCreate(_GenerationFields):
    kind: Literal["generate"]


class Img2ImgJobCreate(_GenerationFields):
    kind: Literal["img2img"]
    init_image: str | None = Field(default=None, description="Base64 or a data: URI.")
    init_image_id: int | None = Field(default=None, description="Or a gallery image.")
    mask: str | None = Field(default=None, description="Inpainting mask, white = repaint.")
    mask_id: int | None = None
    strength: float | None = None


class RecolorJobCreate(_Create):
    kind: Literal["recolor"]
    image_id: int
    palette: str | None = Field(default=None, description="A preset or '#hex,#hex,…'.")
    like_image_id: int | None = Field(default=None, description="Or a gallery image's colours.")
    method: str = "reinhard"
    strength: float = 1.0
    seed: int = 0


class UpscaleJobCreate(_Create):
    kind: Literal["upscale"]
    image_id: int
    scale: int = Field(default=2, description="2 or 4.")
    model: str = Field(default="espcn", description="espcn (shipped), bicubic or lanczos.")
    tile: int = Field(default=256, description="Tile size in input pixels; 0 = whole image.")


JobCreate = Annotated[
    GenerateJobCreate | Img2ImgJobCreate | RecolorJobCreate | UpscaleJobCreate,
    Field(discriminator="kind"),
]


class JobPublic(BaseModel):
    id: int
    kind: str
    state: str
    model: str | None
    request: dict[str, Any]
    attempts: int
    error: str | None
    progress: float
    step: int | None
    total: int | None
    position: int | None = Field(description="0 while running, 1, 2, … while queued.")
    eta_seconds: float | None = Field(description="Until the job finishes; null if unknown.")
    image_ids: list[int]
    owner_id: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, view: JobView) -> JobPublic:
        job = view.job
        return cls(
            id=job.id,
            kind=job.kind,
            state=job.state,
            model=job.model,
            request=json.loads(job.request),
            attempts=job.attempts,
            error=job.error,
            progress=view.progress,
            step=view.step,
            total=view.total,
            position=view.position,
            eta_seconds=None if view.eta_seconds is None else round(view.eta_seconds, 1),
            image_ids=view.image_ids,
            owner_id=job.owner_id,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class JobsPublic(BaseModel):
    items: list[JobPublic]
    count: int


class ImagePublic(BaseModel):
    id: int
    sha256: str
    width: int
    height: int
    prompt: str
    negative_prompt: str
    model: str | None
    seed: int | None
    job_id: int | None
    owner_id: int
    created_at: datetime
    url: str = Field(description="The file itself; its name is its content's hash.")
    download_url: str
    thumbnail_url: str

    @classmethod
    def of(cls, image: Image) -> ImagePublic:
        return cls(**_image_fields(image))


class ImageDetail(ImagePublic):
    parameters: str = Field(description="A1111 'parameters' text, as in the file.")
    request: dict[str, Any] | None = Field(description="The genlab request that remakes it.")

    @classmethod
    def of(cls, image: Image) -> ImageDetail:
        request = json.loads(image.request) if image.request else None
        return cls(**_image_fields(image), parameters=image.parameters, request=request)


def _image_fields(image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "prompt": image.prompt,
        "negative_prompt": image.negative_prompt,
        "model": image.model,
        "seed": image.seed,
        "job_id": image.job_id,
        "owner_id": image.owner_id,
        "created_at": image.created_at,
        "url": f"/files/{image.path}",
        "download_url": f"/api/images/{image.id}/file",
        "thumbnail_url": f"/api/images/{image.id}/thumbnail",
    }


class ImagesPublic(BaseModel):
    items: list[ImagePublic]
    total: int
    offset: int
    limit: int


class ModelPublic(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    engine: str
    source: str
    description: str
    default: bool


class SamplerPublic(BaseModel):
    name: str
    schedules: list[str]


class PngInfoPublic(BaseModel):
    source: str = Field(description="genlab, a1111, comfyui, invokeai or none.")
    parameters: str | None
    record: dict[str, Any] | None
    request: dict[str, Any] | None = Field(description="What regenerates it, when readable.")
