"""The server's prompt styles: genlab's presets and the styles clients imported.

An imported style with a preset's name replaces that preset, as a later row of an
A1111 styles.csv replaces an earlier one.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from genlab.core.errors import InvalidRequest
from genlab.core.text import brief
from genlab.services.styles import Style, apply_styles, preset_styles, read_styles_csv
from genlab.web.gallery import NotFound
from genlab.web.models import PromptStyle

MAX_STYLES_PER_REQUEST = 16
MAX_USER_STYLES = 1000


def all_styles(session: Session) -> dict[str, Style]:
    """Every style by name: presets first, then imported ones, each sorted by name."""
    found = {style.name: style for style in preset_styles()}
    for row in session.scalars(select(PromptStyle).order_by(PromptStyle.name)):
        found[row.name] = Style(row.name, row.prompt, row.negative_prompt)
    return found


def user_styles(session: Session) -> list[Style]:
    rows = session.scalars(select(PromptStyle).order_by(PromptStyle.name))
    return [Style(row.name, row.prompt, row.negative_prompt) for row in rows]


def resolve(session: Session, names: object) -> list[Style]:
    """The styles a request names, in its order; an unknown name is refused (A1111
    skips it silently, and the images would then lack what the client asked for)."""
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidRequest("styles", names, "must be a list of style names")
    if len(names) > MAX_STYLES_PER_REQUEST:
        raise InvalidRequest("styles", names, f"at most {MAX_STYLES_PER_REQUEST} styles a request")
    known = all_styles(session)
    missing = [name for name in names if name not in known]
    if missing:
        raise InvalidRequest(
            "styles", missing[0], "unknown style; GET /sdapi/v1/prompt-styles lists the names"
        )
    return [known[name] for name in names]


def apply(
    session: Session, prompt: str, negative_prompt: str, names: object
) -> tuple[str, str, list[str]]:
    """The prompts with the named styles merged in (A1111's order and rules), and the
    names applied, for the job's record."""
    found = resolve(session, names)
    prompt, negative_prompt = apply_styles(prompt, negative_prompt, found)
    return prompt, negative_prompt, [style.name for style in found]


def import_csv(session: Session, text: str, *, replace: bool = False) -> list[Style]:
    """Store the styles of an A1111 styles.csv (all or none); `replace` drops the
    imported styles not in it. Returns the imported styles now stored."""
    styles = read_styles_csv(text)
    if replace:
        session.execute(delete(PromptStyle))
    existing = set(session.scalars(select(PromptStyle.name)))
    if len(existing | {style.name for style in styles}) > MAX_USER_STYLES:
        session.rollback()
        raise InvalidRequest(
            "styles.csv", len(styles), f"at most {MAX_USER_STYLES} styles are kept"
        )
    for style in styles:
        session.merge(
            PromptStyle(name=style.name, prompt=style.prompt, negative_prompt=style.negative_prompt)
        )
    session.commit()
    return user_styles(session)


def remove(session: Session, name: str) -> None:
    row = session.get(PromptStyle, name)
    if row is None:
        raise NotFound(f"no imported style named {brief(name)}")
    session.delete(row)
    session.commit()
