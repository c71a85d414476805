"""The Gallery page: newest first, searched by prompt words, filtered by model, day and
role, a page of thumbnails at a time."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from itertools import pairwise
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import check_text
from genlab.core.text import repair
from genlab.web import errors, gallery
from genlab.web.deps import StudioDep
from genlab.web.routes.pages.shared import OptionalId, render, shown_error
from genlab.web.schemas import ImagePublic

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 24  # gallery thumbnails per page: 4 rows of 6 on a laptop screen
# Far past the last page of any gallery; the offset it makes stays a 64-bit integer.
MAX_PAGE_NUMBER = gallery.MAX_OFFSET // PAGE_SIZE
MAX_FILTER_CHARS = 64  # a date, a role or a time zone name


@router.get("/gallery", response_class=HTMLResponse)
async def gallery_page(
    request: Request,
    studio: StudioDep,
    q: str = "",
    model: str = "",
    since: str = "",
    until: str = "",
    tz: str = "",
    role: str = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER)] = 1,
    deleted: OptionalId = None,
) -> HTMLResponse:
    """Newest first, searchable by prompt words, filtered by model, day (days in the
    browser's time zone, which the page's script puts in `tz`) and role."""
    filters = {"q": q, "model": model, "since": since, "until": until, "tz": tz, "role": role}
    shown = {key: repair(value) for key, value in filters.items()}  # the form, as typed

    def read() -> HTMLResponse:
        with studio.sessions() as session:
            return _gallery(request, session, filters, shown, page, deleted)

    return await studio.read(read)


def _gallery(
    request: Request,
    session: Session,
    filters: dict[str, str],
    shown: dict[str, str],
    page: int,
    deleted: int | None,
) -> HTMLResponse:
    keys = ("q", "model", "since", "until", "tz", "role")
    q, model, since, until, tz, role = (filters[key] for key in keys)
    context: dict[str, Any] = {
        "filters": shown,
        "models": gallery.models_in_gallery(session),
        "deleted": deleted,
        "items": [],
        "total": 0,
        "pages": [],
        "count": 0,
        "page": 1,
        "error": None,
    }
    try:
        for key in ("since", "until", "tz", "role"):
            check_text(filters[key], key, max_chars=MAX_FILTER_CHARS)
        zone = _zone(tz)
        start = _day(since, "since", zone)
        end = _day(until, "until", zone)
        page = max(page, 1)
        found = gallery.search(
            session,
            query=q,
            model=model or None,
            since=start,
            until=None if end is None else end + timedelta(days=1, microseconds=-1),
            role=role or None,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    except GenlabError as err:
        context["error"] = shown_error(err)
        return render(request, "gallery.html", context, status=errors.status_of(err))
    count = max(math.ceil(found.total / PAGE_SIZE), 1)
    kept = {key: value for key, value in filters.items() if value}
    context.update(
        items=[ImagePublic.of(image) for image in found.items],
        total=found.total,
        page=page,
        pages=[
            (n, None if n is None else "/gallery?" + urlencode({**kept, "page": n}))
            for n in pager(page, count)
        ],
        count=count,
        filtered=any(value for key, value in filters.items() if key != "tz"),
    )
    return render(request, "gallery.html", context)


def pager(page: int, count: int, *, around: int = 2) -> list[int | None]:
    """Page numbers to link: the first, the last and `around` either side of `page`,
    with None where numbers are skipped. 10,000 images are 417 pages; a link to
    each would be a wall of numbers (and most of the page's rendering time)."""
    shown = {1, count, *range(page - around, page + around + 1)}
    numbers = sorted(n for n in shown if 1 <= n <= count)
    out: list[int | None] = numbers[:1]
    for previous, n in pairwise(numbers):
        out += [None, n] if n - previous > 1 else [n]
    return out


def _zone(name: str) -> tzinfo:
    if not name:
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest("tz", name, "an IANA time zone such as Europe/Paris") from None


def _day(text: str, name: str, zone: tzinfo) -> datetime | None:
    """The start of a day given as YYYY-MM-DD, in `zone`."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(name, text, "a date as YYYY-MM-DD") from None
    return datetime.combine(day, time.min, tzinfo=zone)
