"""Untrusted text, made safe in one place.

Text reaches genlab from requests, image metadata, file names and uploads. Two rules:

- **In** (`text_problem`, raised as InvalidRequest by `core.request.check_text`): what
  is stored or acted on must be valid Unicode (no lone UTF-16 surrogates, which no
  encoder can write), short enough to be a prompt or a name, and free of control
  characters other than tab and newline. Anything else is refused, naming the field
  and the problem, before it is saved.
- **Out** (`printable`, `brief`): what is shown on a terminal, in a page or in an
  error message never carries raw escape sequences or surrogates, and is cut to a
  readable length. Control characters are shown as escapes (`\\x1b`), so a crafted
  image cannot move the cursor, retitle the window or hide text.

`repair` is for text already stored by an older version (rows written before these
checks): it replaces surrogates so the row can be encoded and shown again.
"""

from __future__ import annotations

import re
from typing import Any

# A1111 prompts run to a few hundred words; CLIP reads 75 tokens per chunk. Ten
# thousand characters is far beyond any real prompt and cheap to parse.
MAX_PROMPT_CHARS = 10_000
MAX_NAME_CHARS = 200  # model names, palettes, methods, usernames, file names
MAX_SHOWN_CHARS = 120  # a value quoted in an error message

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls but tab, newline and carriage return; DEL; C1 controls; the bidi
# overrides and isolates that can reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def text_problem(value: object, *, max_chars: int = MAX_PROMPT_CHARS) -> str | None:
    """What makes `value` unfit to store and act on, in a phrase; None when it is fine
    (`genlab.core.request.check_text` turns the phrase into an InvalidRequest)."""
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > max_chars:
        return f"at most {max_chars} characters, not {len(value)}"
    if (found := _SURROGATE.search(value)) is not None:
        return f"not valid Unicode (a lone surrogate at character {found.start()})"
    if (found := _CONTROL.search(value)) is not None:
        return (
            f"control character U+{ord(found.group()):04X} at character {found.start()}; "
            "only tab and newline are allowed"
        )
    return None


def repair(text: str) -> str:
    """Text that can be encoded: lone surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def repair_json(value: Any) -> Any:
    """`repair` applied to every string in a JSON value (keys included)."""
    if isinstance(value, str):
        return repair(value)
    if isinstance(value, list):
        return [repair_json(item) for item in value]
    if isinstance(value, dict):
        return {repair(str(key)): repair_json(item) for key, item in value.items()}
    return value


def printable(text: str, *, max_chars: int | None = None, newlines: bool = True) -> str:
    """Text safe to print on a terminal or in a page: control characters and bidi
    overrides shown as escapes, surrogates replaced, cut to `max_chars` with an
    ellipsis. With `newlines=False`, newlines and tabs are escaped too (one line)."""
    text = repair(text)
    pattern = _CONTROL_OUT if newlines else _CONTROL_ANY
    text = pattern.sub(_escape, text)
    if max_chars is not None and len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


_CONTROL_ANY = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def brief(value: object, max_chars: int = MAX_SHOWN_CHARS) -> str:
    """A value as an error message quotes it: repr, one printable line, cut short."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        shown = repr(value)
    except Exception:  # a hostile object's __repr__ must not hide the real error
        shown = f"<{type(value).__name__}>"
    return printable(shown, max_chars=max_chars, newlines=False)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
