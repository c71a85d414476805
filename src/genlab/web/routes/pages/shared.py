"""What every page module uses: rendering a template with the studio's globals, error
pages, the models the Generate and Sweep forms offer, and turning form fields into
the API's job bodies."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import MASK_OPTIONS
from genlab.core.text import printable, repair
from genlab.services import catalog
from genlab.web import errors, gallery
from genlab.web.routes.pages.views import duration, job_details, job_title, number, sweep_grid
from genlab.web.studio import Studio

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

    from genlab.core.engine import ModelInfo

JobBody = TypeVar("JobBody", bound=BaseModel)
# Settings the Generate form shows for every model; a model that ignores some of
# them (Shapes World draws exactly what the prompt says) gets them greyed out.
SETTINGS = ("steps", "guidance_scale", "sampler", "schedule")
# Ids in paths and queries go to the database as they are: SQLite stops at 2**63 - 1.
ImageId = Annotated[int, Path(ge=1, le=gallery.MAX_ID)]
JobId = Annotated[int, Path(ge=1, le=gallery.MAX_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=gallery.MAX_ID)]


# -- rendering ---------------------------------------------------------------------------


@cache
def _templates() -> Jinja2Templates:
    from fastapi.templating import Jinja2Templates

    from genlab.core.version import __version__

    templates = Jinja2Templates(directory=FilePath(__file__).parents[2] / "templates")
    templates.env.globals.update(
        version=__version__, job_title=job_title, job_details=job_details, sweep_grid=sweep_grid
    )
    templates.env.filters.update(duration=duration, number=number)
    return templates


def render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200, **headers: str
) -> HTMLResponse:
    studio: Studio = request.app.state.studio
    base = {
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "signed_in": bool(studio.settings.token),
        "path": request.url.path,
    }
    return _templates().TemplateResponse(
        request, name, {**base, **context}, status_code=status, headers=headers or None
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_page(request: Request, err: GenlabError) -> HTMLResponse:
    return render(request, "error.html", {"error": shown_error(err)}, status=errors.status_of(err))


def shown_error(err: GenlabError) -> str:
    """An error as a page shows it: one printable line."""
    return printable(errors.one_line(str(err)), newlines=False)


# -- models on the Generate and Sweep forms ----------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """A model as the Generate form offers it (the script switches fields by it)."""

    name: str
    description: str
    defaults: dict[str, Any]  # the model's tuned steps, guidance, sampler, schedule
    samplers: tuple[str, ...]
    schedules: tuple[str, ...]
    ignores: tuple[str, ...]  # form fields this model's engine does not use
    native: int | None  # the side it draws when width and height are left blank


def model_choices() -> list[ModelChoice]:
    from genlab.services.catalog import local_models

    return [_choice(info) for info in local_models()]


def _choice(info: ModelInfo) -> ModelChoice:
    from genlab.core.samplers import SAMPLERS, SCHEDULES
    from genlab.services.generation import new_request

    request = new_request(model=info.name, prompt="")
    defaults = {name: getattr(request, name) for name in SETTINGS}
    samplers, schedules = SAMPLERS, SCHEDULES
    ignores = catalog.ignored_settings(info.name) if info.engine in ("procedural", "gan") else ()
    # Flow-matching models only sample with their own samplers; the engine refuses others.
    samplers, schedules = catalog.model_samplers(info.name) or (samplers, schedules)
    native = catalog.native_side(info.name)  # what submissions are checked against too
    return ModelChoice(info.name, info.description, defaults, samplers, schedules, ignores, native)


# -- form fields -------------------------------------------------------------------------


def form_values(fields: dict[str, Any]) -> dict[str, str]:
    """Request fields as the form's text values (None → blank)."""
    keys = (
        "prompt",
        "negative_prompt",
        "model",
        *SETTINGS,
        "width",
        "height",
        "seed",
        "batch_size",
        "strength",
        *MASK_OPTIONS,
    )
    # Shown again as typed, but never with text no page can encode (lone surrogates).
    return {key: repair(number(fields.get(key))) for key in keys}


def text_fields(form: FormData) -> dict[str, str]:
    """A posted form's text fields (files apart)."""
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def job_body(schema: type[JobBody], **values: Any) -> JobBody:
    """The API's job body from a form's values. What the schema refuses (a gallery id
    out of range) becomes the form's one-line error, like any other bad value."""
    try:
        return schema(**values)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "form"
        raise InvalidRequest(field, first.get("input"), first.get("msg", "invalid")) from None


def parse_number(fields: dict[str, str], name: str, kind: type[int] | type[float]) -> Any:
    """A form's number field as `kind`; None when left blank."""
    text = fields.get(name, "").strip()
    if not text:
        return None  # blank: the model's default
    try:
        return kind(text)
    except ValueError:
        allowed = "a whole number" if kind is int else "a number"
        raise InvalidRequest(name, text, f"must be {allowed}") from None
