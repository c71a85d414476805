"""Prompt styles as AUTOMATIC1111 keeps them: named prompt and negative-prompt texts
added to a request's own (modules/styles.py), read from its `styles.csv` format.

genlab's descriptor presets (the colour, lighting, style and mood phrases sweeps use)
are styles too, named "<set>: <phrase>", so an A1111 client lists and applies them
like any other.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from genlab.core.errors import InvalidRequest
from genlab.core.request import check_name, check_text

PROMPT_PLACEHOLDER = "{prompt}"
MAX_STYLES_CSV_ROWS = 1000  # far more than any styles.csv in use; a bound on one upload
MAX_STYLE_NAME_CHARS = 128


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def merge_prompt(style_prompt: str, prompt: str) -> str:
    """A1111's merge: the prompt put in place of `{prompt}`, else the style appended
    after a comma (nothing added for an empty part)."""
    if PROMPT_PLACEHOLDER in style_prompt:
        return style_prompt.replace(PROMPT_PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_prompt.strip()) if part)


def apply_styles(prompt: str, negative_prompt: str, styles: Iterable[Style]) -> tuple[str, str]:
    """The prompt and negative prompt with each style merged in, in the order given."""
    for style in styles:
        prompt = merge_prompt(style.prompt, prompt)
        negative_prompt = merge_prompt(style.negative_prompt, negative_prompt)
    return prompt, negative_prompt


def preset_styles() -> list[Style]:
    """genlab's descriptor sets as styles: each phrase appended to the prompt."""
    from genlab.world.descriptors import DESCRIPTOR_SETS

    return [
        Style(f"{set_name}: {phrase}", phrase)
        for set_name, phrases in DESCRIPTOR_SETS.items()
        for phrase in phrases
    ]


def read_styles_csv(text: str) -> list[Style]:
    """Styles from A1111's styles.csv: a header with `name`, `prompt` (or the older
    `text`) and optionally `negative_prompt`; other columns are ignored, rows without a
    name skipped, as A1111 reads it. Errors name the row."""
    try:
        return _read_styles(text)
    except csv.Error as err:
        raise InvalidRequest("styles.csv", str(err), "must be comma-separated values") from None


def _read_styles(text: str) -> list[Style]:
    # strict: an unclosed quote is an error, not a name that swallows the file.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), strict=True)
    columns = set(reader.fieldnames or ())
    if "name" not in columns or not columns & {"prompt", "text"}:
        raise InvalidRequest(
            "styles.csv", sorted(columns), "needs a header with name, prompt, negative_prompt"
        )
    found: dict[str, Style] = {}
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_STYLES_CSV_ROWS:
            raise InvalidRequest(
                "styles.csv", f"row {number}", f"at most {MAX_STYLES_CSV_ROWS} styles"
            )
        name = (row.get("name") or "").strip()
        if not name:
            continue
        if len(name) > MAX_STYLE_NAME_CHARS:
            raise InvalidRequest(
                f"styles.csv row {number} name",
                name,
                f"at most {MAX_STYLE_NAME_CHARS} characters",
            )
        prompt = row.get("prompt") if "prompt" in columns else row.get("text")
        found[name] = Style(
            check_name(name, f"styles.csv row {number} name"),
            check_text(prompt or "", f"styles.csv row {number} prompt"),
            check_text(
                row.get("negative_prompt") or "", f"styles.csv row {number} negative_prompt"
            ),
        )
    return list(found.values())


def write_styles_csv(styles: Iterable[Style]) -> str:
    """Styles in A1111's styles.csv format, which A1111 reads back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "prompt", "negative_prompt"])
    for style in styles:
        writer.writerow([style.name, style.prompt, style.negative_prompt])
    return buffer.getvalue()
