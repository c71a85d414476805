"""/api/images (the gallery) and /files (stored files by their content name)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import FileResponse

from genlab.core.errors import InvalidRequest
from genlab.web import gallery
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.schemas import ImageDetail, ImagePublic, ImagesPublic

router = APIRouter(tags=["images"])
THUMBNAIL_SIZES = (64, 128, 256, 512)  # a fixed set, so the cache cannot grow without bound
# Stored files never change (their name is their hash, checked before they are served);
# caches may keep them for good.
IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}
ImageId = Annotated[int, Path(ge=1, le=gallery.MAX_ID)]


@router.get("/api/images")
async def list_images(
    studio: StudioDep,
    q: Annotated[str, Query(description="Words the prompt must contain (prefixes).")] = "",
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    role: Annotated[
        Literal["image", "sheet"] | None,
        Query(description="image, or sheet for sweeps' contact sheets; both if omitted."),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=gallery.MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=gallery.MAX_PAGE)] = 50,
) -> ImagesPublic:
    """Newest first; filter by prompt words, model and a created_at range."""

    def read() -> ImagesPublic:
        with studio.sessions() as session:
            page = gallery.search(
                session,
                query=q,
                model=model,
                since=since,
                until=until,
                role=role,
                offset=offset,
                limit=limit,
            )
            return ImagesPublic(
                items=[ImagePublic.of(i) for i in page.items],
                total=page.total,
                offset=page.offset,
                limit=page.limit,
            )

    return await studio.read(read)


@router.get("/api/images/{image_id}")
def get_image(image_id: ImageId, session: SessionDep) -> ImageDetail:
    return ImageDetail.of(gallery.get_image(session, image_id))


@router.get("/api/images/{image_id}/file", response_class=FileResponse)
def download_image(image_id: ImageId, session: SessionDep, studio: StudioDep) -> FileResponse:
    """The PNG exactly as stored: A1111 `parameters` and genlab chunks intact."""
    image = gallery.get_image(session, image_id)
    path = gallery.served_file(studio.store, image)
    name = f"genlab-{image.id}-{image.seed}{path.suffix}" if image.seed is not None else None
    return FileResponse(path, media_type="image/png", filename=name, headers=IMMUTABLE)


@router.get("/api/images/{image_id}/thumbnail", response_class=FileResponse)
def image_thumbnail(
    image_id: ImageId, session: SessionDep, studio: StudioDep, size: int | None = None
) -> FileResponse:
    size = size or studio.settings.thumbnail_size
    if size not in THUMBNAIL_SIZES:
        raise InvalidRequest("size", size, f"one of {', '.join(map(str, THUMBNAIL_SIZES))}")
    image = gallery.get_image(session, image_id)
    path = gallery.thumbnail(studio.store, image, size)
    return FileResponse(path, media_type="image/webp", headers=IMMUTABLE)


@router.delete("/api/images/{image_id}", status_code=204)
def delete_image(
    image_id: ImageId, session: SessionDep, studio: StudioDep, user: CurrentUser
) -> Response:
    """Remove the image; its file goes too unless another image has the same bytes."""
    gallery.delete_image(session, studio.store, image_id, user_id=user.id)
    return Response(status_code=204)


@router.get("/files/{path:path}", response_class=FileResponse)
def stored_file(path: str, studio: StudioDep) -> FileResponse:
    """A stored file by its path in the data folder: only files the store named itself
    (images/, inputs/, thumbs/), checked to hold the bytes their name promises."""
    target = studio.store.served(path)
    media = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}
    return FileResponse(
        target, media_type=media.get(target.suffix, "application/octet-stream"), headers=IMMUTABLE
    )
