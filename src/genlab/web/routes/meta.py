"""/api/models, /api/samplers, /api/png-info: what the server offers, what a file says."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from genlab.core.errors import MetadataError
from genlab.web import options
from genlab.web.deps import SessionDep, StudioDep
from genlab.web.schemas import ModelPublic, PngInfoPublic, SamplerPublic
from genlab.web.uploads import UploadRejected, metadata_image

router = APIRouter(prefix="/api", tags=["meta"])


@router.get("/models")
def list_models(session: SessionDep) -> list[ModelPublic]:
    """Models this server may run (nothing is loaded or downloaded to list them)."""
    from genlab.services.catalog import local_models

    default = options.default_model(session)
    return [
        ModelPublic(
            name=m.name,
            engine=m.engine,
            source=m.source,
            description=m.description,
            default=m.name == default,
        )
        for m in local_models()
    ]


@router.get("/samplers")
def list_samplers() -> list[SamplerPublic]:
    """A1111 sampler names and the schedule types each may take."""
    from genlab.core.samplers import SAMPLERS, SCHEDULES

    return [SamplerPublic(name=name, schedules=list(SCHEDULES)) for name in SAMPLERS]


@router.post("/png-info")
def png_info(
    file: Annotated[UploadFile, File(description="A PNG, JPEG or WebP image.")],
    studio: StudioDep,
) -> PngInfoPublic:
    """The generation metadata in an image: A1111 text, genlab record, the request."""
    from genlab.core.imageio import read_metadata
    from genlab.core.metadata import request_from_metadata

    limit = studio.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise UploadRejected(f"upload is over {limit} bytes", too_large=True)
    # The metadata only: the pixels are never decoded (a 4096x4096 upload would take
    # 64 MB for nothing).
    image = metadata_image(data, max_bytes=limit, max_pixels=studio.settings.max_upload_pixels)
    meta = read_metadata(image)
    try:
        request = request_from_metadata(meta).to_dict()
    except MetadataError:
        request = None
    return PngInfoPublic(
        source=meta.source, parameters=meta.parameters, record=meta.record, request=request
    )
