"""/api/styles: the prompt styles clients import in A1111's styles.csv format.

A1111 keeps styles in a styles.csv beside the server; here a client uploads one (or
downloads what was imported, to take it back to A1111). txt2img and img2img apply
them by name (`styles`), beside genlab's descriptor presets.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from genlab.core.errors import InvalidRequest
from genlab.services.styles import write_styles_csv
from genlab.web import styles
from genlab.web.deps import CurrentUser, SessionDep, StudioDep

router = APIRouter(prefix="/api/styles", tags=["styles"])


class StyleImport(BaseModel):
    csv: str = Field(description="A1111 styles.csv text: name,prompt,negative_prompt")
    replace: bool = Field(False, description="drop imported styles the file does not have")


class StylePublic(BaseModel):
    name: str
    prompt: str
    negative_prompt: str
    preset: bool  # one of genlab's descriptor presets, not imported


@router.get("")
def list_styles(session: SessionDep) -> list[StylePublic]:
    """Every style a request may name: presets, then imported styles."""
    imported = {style.name for style in styles.user_styles(session)}
    return [
        StylePublic(**vars(style), preset=style.name not in imported)
        for style in styles.all_styles(session).values()
    ]


@router.post("")
def import_styles(
    body: StyleImport, session: SessionDep, studio: StudioDep, _user: CurrentUser
) -> list[StylePublic]:
    """Import an A1111 styles.csv; a style with an existing name replaces it."""
    if len(body.csv.encode("utf-8", "surrogatepass")) > studio.settings.max_upload_bytes:
        limit = studio.settings.max_upload_bytes
        raise InvalidRequest("csv", f"{len(body.csv)} characters", f"at most {limit} bytes")
    stored = styles.import_csv(session, body.csv, replace=body.replace)
    return [StylePublic(**vars(style), preset=False) for style in stored]


@router.get("/styles.csv", response_class=PlainTextResponse)
def export_styles(session: SessionDep) -> PlainTextResponse:
    """The imported styles as an A1111 styles.csv."""
    return PlainTextResponse(write_styles_csv(styles.user_styles(session)), media_type="text/csv")


@router.delete("/{name}", status_code=204)
def delete_style(name: str, session: SessionDep, _user: CurrentUser) -> None:
    styles.remove(session, name)
