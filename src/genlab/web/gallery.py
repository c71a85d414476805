"""The gallery: adding finished images, searching, reading and deleting them.

Route handlers and pages call these; they take a Session and the ImageStore and
know nothing of HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, func, intersect, select
from sqlalchemy.orm import Session

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import check_name, check_text
from genlab.core.text import repair
from genlab.web.models import IMAGE_ROLES, Image, ImageWord
from genlab.web.store import ImageStore, PathOutsideStore, StoredFile, UndecodableFile

if TYPE_CHECKING:
    from genlab.core.result import GenerationResult

MAX_PAGE = 200
_WORD = re.compile(r"[^\W_]+")  # letters and digits, any script
MAX_WORD = 64  # the column's width; longer "words" are cut, search cuts them alike
# A search is one SELECT per word, intersected, and SQLite allows 500 terms in a
# compound SELECT; people search with a few words, so a few dozen is plenty.
MAX_SEARCH_WORDS = 32
MAX_QUERY_CHARS = 1000
MAX_ID = 2**63 - 1  # SQLite's largest integer: no row has a larger id
MAX_OFFSET = 2**31  # far past any gallery; SQLite's OFFSET is a 64-bit integer


class NotFound(GenlabError):
    """A job or image id that does not exist (or that the user may not see)."""


class Forbidden(GenlabError):
    """The resource exists but belongs to someone else."""


@dataclass(frozen=True)
class NewImage:
    """An image ready to enter the gallery, its file already complete in the store."""

    file: StoredFile
    prompt: str
    negative_prompt: str
    model: str | None
    seed: int | None
    parameters: str
    request: dict[str, Any] | None


def store_generated(
    store: ImageStore, result: GenerationResult, index: int, *, image_format: str = "png"
) -> NewImage:
    """Store image `index` of a generation with its metadata (A1111 text and genlab's
    record) in `image_format` (png, jpg, webp) and describe it for the gallery; the
    row is added by `add_images`."""
    from genlab.core.metadata import genlab_record, infotext

    record = genlab_record(result, index)
    parameters = infotext(result, index)
    return NewImage(
        file=store.put_image(result.images[index], parameters, record, suffix=f".{image_format}"),
        prompt=result.prompts[index],
        negative_prompt=result.negative_prompts[index],
        model=result.model,
        seed=result.seeds[index],
        parameters=parameters,
        request=record["request"],
    )


# What a gallery listing shows of each image: everything but the long parameter texts.
LISTED = tuple(
    getattr(Image, name)
    for name in (
        "id sha256 path width height prompt negative_prompt model seed job_id owner_id "
        "created_at role sweep_cell"
    ).split()
)


@dataclass(frozen=True)
class Page:
    items: list[Row]  # the LISTED columns of each image, by attribute (row.prompt)
    total: int
    offset: int
    limit: int


def words(text: str) -> list[str]:
    """Lower-case words of a prompt, without punctuation and bare numbers."""
    found = (w.lower()[:MAX_WORD] for w in _WORD.findall(text))
    # Bare numbers are mostly weights such as (red:1.3); they make poor search words.
    return list(dict.fromkeys(w for w in found if not w.isdigit()))


def add_images(
    session: Session, new: Sequence[NewImage], *, owner_id: int, job_id: int | None
) -> list[Image]:
    """Rows for images whose files are complete; the caller commits (one transaction)."""
    rows = []
    for item in new:
        row = Image(
            sha256=item.file.sha256,
            path=item.file.path,
            width=item.file.width,
            height=item.file.height,
            prompt=item.prompt,
            negative_prompt=item.negative_prompt,
            model=item.model,
            seed=item.seed,
            parameters=item.parameters,
            request=None if item.request is None else json.dumps(item.request),
            job_id=job_id,
            owner_id=owner_id,
        )
        row.words = [ImageWord(word=w) for w in words(item.prompt)]
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def search(
    session: Session,
    *,
    query: str = "",
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    owner_id: int | None = None,
    role: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """Newest first. `query` matches images whose prompt has every word of it, each
    as a word prefix ("circ" finds "circle"); `since`/`until` bound created_at;
    `role` keeps only images or only sweeps' contact sheets."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest("limit", limit, f"must be from 1 to {MAX_PAGE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidRequest("offset", offset, f"must be from 0 to {MAX_OFFSET}")
    check_text(query, "q", max_chars=MAX_QUERY_CHARS)
    if model is not None:
        check_name(model, "model")
    searched = words(query)
    if len(searched) > MAX_SEARCH_WORDS:
        raise InvalidRequest(
            "q", f"{len(searched)} words", f"a search takes at most {MAX_SEARCH_WORDS} words"
        )
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since > until:
        raise InvalidRequest("since", since.isoformat(), "must not be after until")
    statement = select(Image.id)
    prefixes = [
        # A prefix range uses the (word, image_id) primary key as an index.
        select(ImageWord.image_id).where(ImageWord.word >= w, ImageWord.word < w + "\U0010ffff")
        for w in searched
    ]
    if prefixes:
        matching = prefixes[0] if len(prefixes) == 1 else intersect(*prefixes)
        statement = statement.where(Image.id.in_(matching))
    if model:
        statement = statement.where(Image.model == model)
    if since is not None:
        statement = statement.where(Image.created_at >= since)
    if until is not None:
        statement = statement.where(Image.created_at <= until)
    if owner_id is not None:
        statement = statement.where(Image.owner_id == owner_id)
    if role is not None:
        if role not in IMAGE_ROLES:
            raise InvalidRequest("role", role, f"one of {', '.join(IMAGE_ROLES)}")
        statement = statement.where(Image.role == role)
    newest = (Image.created_at.desc(), Image.id.desc())
    if prefixes:
        # A word search finds its matches once: the page's ids and the total (a window
        # count) come from the same pass, which halves the cost of a search.
        statement = statement.add_columns(func.count().over().label("total"))
    # Pick the page's ids first, then read only those rows: sorting the whole match
    # set would otherwise read every matching row in full (3x slower at 10,000 images).
    page = statement.order_by(*newest).offset(offset).limit(limit).subquery()
    # Plain rows, not ORM objects: a page is only shown, never changed, and building
    # fifty tracked objects cost more than the queries themselves.
    columns = (*LISTED, page.c.total) if prefixes else LISTED
    items = session.execute(
        select(*columns).join(page, Image.id == page.c.id).order_by(*newest)
    ).all()
    if prefixes and items:
        total = items[0].total
    else:  # no window count, or a page past the last match
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    return Page(list(items), total, offset, limit)


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC, the zone every stored time is in."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def get_image(session: Session, image_id: int) -> Image:
    if not 1 <= image_id <= MAX_ID:  # no such row can exist, and SQLite cannot take it
        raise NotFound(f"image {image_id} does not exist")
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} does not exist")
    return image


def image_file(store: ImageStore, image: Image) -> Path:
    path = store.resolve(image.path)
    if not path.is_file():
        raise NotFound(f"the file of image {image.id} is missing from the store")
    return path


def delete_image(session: Session, store: ImageStore, image_id: int, *, user_id: int) -> None:
    """Remove the row, then the file unless another row holds the same bytes."""
    image = get_image(session, image_id)
    if image.owner_id != user_id:
        raise Forbidden(f"image {image_id} belongs to another user")
    with store.lock:
        session.delete(image)
        session.flush()
        still_used = session.scalar(select(func.count()).where(Image.path == image.path))
        session.commit()
        if not still_used:
            store.remove(image.path)


def thumbnail(store: ImageStore, image: Image, size: int) -> Path:
    image_file(store, image)
    try:
        return store.thumbnail(image.path, size)
    except UndecodableFile:
        raise UndecodableFile(f"image {image.id}'s stored file cannot be decoded") from None


def served_file(store: ImageStore, image: Image) -> Path:
    """An image's file, checked to be the bytes it was stored as (see ImageStore.served)."""
    image_file(store, image)
    try:
        return store.served(image.path)
    except UndecodableFile:
        raise UndecodableFile(
            f"image {image.id}'s stored file is damaged: its bytes no longer match their hash"
        ) from None
    except PathOutsideStore:
        raise NotFound(f"the file of image {image.id} is missing from the store") from None


def image_paths(session: Session) -> set[str]:
    """Every store path an image row refers to (jobs' inputs: `queue.input_paths`)."""
    return set(session.scalars(select(Image.path)).all())


def models_in_gallery(session: Session) -> list[str]:
    rows = session.scalars(select(Image.model).where(Image.model.is_not(None)).distinct())
    return sorted(repair(row) for row in rows)
