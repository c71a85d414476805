"""Untrusted text: what is refused on the way in, what is escaped on the way out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genlab.core.errors import InvalidRequest
from genlab.core.request import check_name, check_text
from genlab.core.text import MAX_PROMPT_CHARS, brief, printable, repair, repair_json


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("\ud800 x", "lone surrogate at character 0"),
        ("x\udfff", "lone surrogate at character 1"),
        ("red \x1b[31mcircle", "control character U+001B at character 4"),
        ("a\x00b", "U+0000"),
        ("evil \u202e txt", "U+202E"),
        ("a" * (MAX_PROMPT_CHARS + 1), f"at most {MAX_PROMPT_CHARS} characters"),
        (b"bytes", "must be a string"),
        (5, "must be a string"),
    ],
)
def test_check_text_refuses_naming_field_and_problem(value: object, problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_text(value, "prompt")
    message = str(caught.value)
    assert message.startswith("prompt=") and problem in message
    assert "\n" not in message and len(message) < 300  # one short line, even for 10 kB
    message.encode("utf-8")  # and it can be written anywhere


def test_check_text_keeps_ordinary_text() -> None:
    text = "a (red:1.2) circle,\n\tBREAK 猫 — golden hour ✨"
    assert check_text(text, "prompt") == text
    with pytest.raises(InvalidRequest, match="at most 200 characters"):
        check_name("m" * 201, "model")


def test_printable_escapes_terminal_controls_and_cuts() -> None:
    crafted = "ok\x1b]0;owned\x07\x1b[2J\u202egnp.exe\nnext\x9b"
    shown = printable(crafted)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b]0;owned\\x07" in shown and "\\u202e" in shown and "\\x9b" in shown
    assert "\nnext" in shown  # newlines kept by default…
    assert "\n" not in printable(crafted, newlines=False)  # …and escaped on request
    assert printable("x" * 50, max_chars=10) == "x" * 9 + "…"


def test_repair_makes_stored_rows_encodable() -> None:
    row = json.loads('{"prompt": "\\ud800 x", "\\udc00": ["\\udfff"]}')
    with pytest.raises(UnicodeEncodeError):
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    fixed = repair_json(row)
    assert fixed == {"prompt": "\ufffd x", "\ufffd": ["\ufffd"]}
    assert repair("fine") == "fine"


def test_brief_names_huge_integers_and_survives_hostile_reprs() -> None:
    assert brief(2**70) == "an integer of 71 bits"
    assert brief(2**40) == str(2**40)

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert brief(Hostile()) == "<Hostile>"


@given(st.text())
def test_any_text_is_either_accepted_or_refused_cleanly(text: str) -> None:
    try:
        assert check_text(text, "prompt") == text
    except InvalidRequest as err:
        str(err).encode("utf-8")
    shown = printable(text)
    shown.encode("utf-8")
    assert not any(ord(c) < 32 and c not in "\n\t" for c in shown)
