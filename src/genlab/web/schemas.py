"""The genlab JSON API's request (Create) and response (Public) shapes.

Field names are the project's vocabulary (prompt, negative_prompt, steps,
guidance_scale, sampler, seed, width, height). Fields left out take the model's
tuned defaults. Validation of values happens once, in GenerationRequest; these
schemas only fix the shapes, and bound the ids that go to the database as they are.

Public shapes read rows that older versions may have stored with lone surrogates in
their text (no response can encode those): such text comes out repaired.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from genlab.core.text import repair, repair_json
from genlab.web.gallery import MAX_ID
from genlab.web.jobs import JobView
from genlab.web.models import Image
from genlab.web.queue import error_line

# A gallery image's id: SQLite integers stop at 2**63 - 1.
ImageId = Annotated[int, Field(ge=1, le=MAX_ID)]


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
    styles: list[str] = Field(
        default_factory=list, description="Prompt styles merged in (GET /api/styles)."
    )

    def request_fields(self) -> dict[str, Any]:
        exclude = {"kind", "n_iter", "styles", *_IMAGE_FIELDS}
        return self.model_dump(exclude=exclude, exclude_none=True)


_IMAGE_FIELDS = ("init_image", "init_image_id", "mask", "mask_id")


class GenerateJobCreate(_GenerationFields):
    kind: Literal["generate"]


class Img2ImgJobCreate(_GenerationFields):
    kind: Literal["img2img"]
    init_image: str | None = Field(default=None, description="Base64 or a data: URI.")
    init_image_id: ImageId | None = Field(default=None, description="Or a gallery image.")
    mask: str | None = Field(default=None, description="Inpainting mask, white = repaint.")
    mask_id: ImageId | None = None
    strength: float | None = None
    # A1111's mask options in genlab's names; left out, genlab's defaults (no blur,
    # "original", whole image). They need a mask.
    mask_blur: int | None = Field(default=None, description="Gaussian blur of the mask, pixels.")
    mask_invert: bool | None = Field(default=None, description="Repaint what is black.")
    inpaint_fill: str | None = Field(
        default=None, description="fill, original, latent noise or latent nothing."
    )
    inpaint_only_masked: bool | None = Field(
        default=None, description="Draw the mask's box only, at the full size."
    )
    inpaint_padding: int | None = Field(default=None, description="Pixels around that box.")


class RecolorJobCreate(_Create):
    kind: Literal["recolor"]
    image_id: ImageId
    palette: str | None = Field(default=None, description="A preset or '#hex,#hex,…'.")
    like_image_id: ImageId | None = Field(default=None, description="Or a gallery image's colours.")
    method: str = "reinhard"
    strength: float = 1.0
    seed: int = 0


class UpscaleJobCreate(_Create):
    kind: Literal["upscale"]
    image_id: ImageId
    scale: int = Field(default=2, description="2 or 4.")
    model: str = Field(default="espcn", description="espcn (shipped), bicubic or lanczos.")
    tile: int = Field(default=256, description="Tile size in input pixels; 0 = whole image.")


class StyleJobCreate(_Create):
    """Neural style transfer, as `genlab style`; options left out take its defaults."""

    kind: Literal["style"]
    content_image: str | None = Field(default=None, description="Base64 or a data: URI.")
    content_image_id: ImageId | None = Field(default=None, description="Or a gallery image.")
    style_image: str | None = Field(default=None, description="Base64 or a data: URI.")
    style_image_id: ImageId | None = Field(default=None, description="Or a gallery image.")
    size: int | None = Field(default=None, description="Long side of the output in px [512].")
    scales: int | None = Field(default=None, description="Coarse-to-fine levels [3].")
    iterations: int | None = Field(default=None, description="Evaluations, finest scale [150].")
    coarse_iterations: int | None = None
    optimizer: str | None = Field(default=None, description="lbfgs or adam.")
    learning_rate: float | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    strength: float | None = Field(default=None, description="0..1, style targets' blend.")
    preserve_colours: bool | None = None
    style_scale: float | None = None
    init: str | None = Field(default=None, description="content or noise.")
    pooling: str | None = Field(default=None, description="max or avg.")
    seed: int | None = Field(default=None, description="-1 for random [0].")

    def options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind", *_STYLE_INPUTS}, exclude_none=True)


_STYLE_INPUTS = ("content_image", "content_image_id", "style_image", "style_image_id")
_AXIS_HELP = (
    'As `genlab sweep --x` takes it ("seed=1-4", "guidance_scale=3,7.5", "sr=red,blue", '
    '"descriptors=lighting") or a table ({"axis": "seed", "values": [1, 2]}).'
)


class SweepJobCreate(_Create):
    """A prompt varied along up to three axes (A1111's X/Y/Z plot), as `genlab sweep`:
    one image per cell and one contact sheet per Z value, all in the gallery."""

    kind: Literal["sweep"]
    prompt: str
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    sampler: str | None = None
    schedule: str | None = None
    seed: int = Field(default=-1, description="-1: one random seed for the whole sweep.")
    model: str | None = Field(default=None, description="Left out: the server's default model.")
    x: str | dict[str, Any] | None = Field(default=None, description=f"Columns. {_AXIS_HELP}")
    y: str | dict[str, Any] | None = Field(default=None, description="Rows.")
    z: str | dict[str, Any] | None = Field(default=None, description="One contact sheet each.")

    def settings(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind", "x", "y", "z"}, exclude_none=True)

    def axes(self) -> dict[str, str | dict[str, Any] | None]:
        return {"x": self.x, "y": self.y, "z": self.z}


# The union of these a client posts is the kind table's (genlab.web.kinds.JobCreate).


class CellPublic(BaseModel):
    index: int
    position: tuple[int, int, int] = Field(description="(x, y, z): column, row, sheet.")
    url: str = Field(description="The cell's stored file, there as soon as it is made.")
    image_id: int | None = Field(description="Its gallery image, once the job is done.")


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
    sheet_ids: list[int] = Field(description="Sweeps: the contact sheets among image_ids.")
    cells: list[CellPublic] | None = Field(
        description="Sweeps: the cells made so far, in the order they were made; the "
        "grid's shape and axis labels are in request."
    )
    owner_id: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, view: JobView) -> JobPublic:
        job = view.job
        cells = view.cells
        return cls(
            id=job.id,
            kind=job.kind,
            state=job.state,
            model=None if job.model is None else repair(job.model),
            request=repair_json(json.loads(job.request)),
            attempts=job.attempts,
            # Older versions stored errors of any length (a 1 MB prompt, quoted).
            error=None if job.error is None else error_line(job.error),
            progress=view.progress,
            step=view.step,
            total=view.total,
            position=view.position,
            eta_seconds=None if view.eta_seconds is None else round(view.eta_seconds, 2),
            image_ids=view.image_ids,
            sheet_ids=view.sheet_ids,
            cells=None
            if cells is None
            else [
                CellPublic(
                    index=c.index, position=c.position, url=f"/files/{c.path}", image_id=c.image_id
                )
                for c in cells
            ],
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
    role: str = Field(description="image, or sheet for a sweep's contact sheet.")
    sweep_cell: int | None = Field(description="For a sweep's image: its cell index.")
    url: str = Field(description="The file itself; its name is its content's hash.")
    download_url: str
    thumbnail_url: str

    @classmethod
    def of(cls, image: Image | Row) -> ImagePublic:
        """From an Image, or a row of gallery.LISTED: both name their fields alike."""
        return cls(**_image_fields(image))


class ImageDetail(ImagePublic):
    parameters: str = Field(description="A1111 'parameters' text, as in the file.")
    request: dict[str, Any] | None = Field(description="The genlab request that remakes it.")

    @classmethod
    def of(cls, image: Image) -> ImageDetail:
        request = repair_json(json.loads(image.request)) if image.request else None
        return cls(**_image_fields(image), parameters=repair(image.parameters), request=request)


def _image_fields(image: Image | Row) -> dict[str, Any]:
    return {
        "id": image.id,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "prompt": repair(image.prompt),
        "negative_prompt": repair(image.negative_prompt),
        "model": None if image.model is None else repair(image.model),
        "seed": image.seed,
        "job_id": image.job_id,
        "owner_id": image.owner_id,
        "created_at": image.created_at,
        "role": image.role,
        "sweep_cell": image.sweep_cell,
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
