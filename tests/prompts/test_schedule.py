"""A1111 prompt editing, alternation and AND read as A1111's prompt_parser reads them."""

from __future__ import annotations

import pytest

from genlab.prompts.schedule import has_schedule, reading, schedule, split_and, text_at


def test_editing_switches_after_the_step_a_fraction_or_number_names() -> None:
    assert schedule("a [cat:dog:0.5] run", 10) == [(5, "a cat run"), (10, "a dog run")]
    assert schedule("a [cat:dog:3]", 10) == [(3, "a cat"), (10, "a dog")]
    # A "." makes a fraction (1.0 is the end); no "." is a step number.
    assert schedule("[cat:dog:1.0]", 4) == [(4, "cat")]
    assert schedule("[cat:dog:1]", 4) == [(1, "cat"), (4, "dog")]


def test_add_and_remove_forms() -> None:
    assert schedule("x [dog:2]", 4) == [(2, "x "), (4, "x dog")]
    assert schedule("x [dog::2]", 4) == [(2, "x dog"), (4, "x ")]


def test_alternation_cycles_one_option_per_step() -> None:
    entries = schedule("a [red|green|blue] b", 4)
    assert [text for _, text in entries] == ["a red b", "a green b", "a blue b", "a red b"]


def test_step_index_counts_as_a1111_from_zero_against_ends_from_one() -> None:
    entries = schedule("[cat:dog:2]", 4)
    assert [text_at(entries, i) for i in range(4)] == ["cat", "cat", "cat", "dog"]
    alternating = schedule("[a|b]", 4)
    assert [text_at(alternating, i) for i in range(4)] == ["a", "a", "b", "a"]


def test_emphasis_survives_and_nests_with_editing() -> None:
    assert schedule("([cat:dog:0.5]:1.3) [small]", 2) == [
        (1, "(cat:1.3) [small]"),
        (2, "(dog:1.3) [small]"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a [cat:dog",  # never closed
        "a [cat:dog:soon]",  # when is not a number
        "a (red:1.2) [blue] circle",  # emphasis only
        "a|b [cat:dog:1]",  # a bar outside square brackets: all literal, as A1111
        "a [cat:dog:1] (x",
        "]:)[(",
    ],
)
def test_malformed_or_plain_prompts_stay_literal_text(text: str) -> None:
    entries = schedule(text, 8)
    if text.endswith("(x"):  # the edit is read, the stray bracket stays text
        assert entries == [(1, "a cat (x"), (8, "a dog (x")]
        return
    assert entries == [(8, text)]
    assert not has_schedule(text)


def test_and_splits_clauses_with_trailing_weights() -> None:
    assert split_and("a cat:1.2 AND a dog AND (red:1.3)") == [
        ("a cat", 1.2),
        (" a dog", 1.0),
        (" (red:1.3)", 1.0),
    ]
    assert split_and("BRANDED no split") == [("BRANDED no split", 1.0)]


def test_reading_for_engines_without_steps() -> None:
    assert reading("a [cat:dog:0.5] [red|blue] AND a star") == "a dog red"


@pytest.mark.parametrize(
    "text",
    ["[" * 5000, "[a" * 3000, "(a:" * 3000, "[a|" * 3000, f"[a:b:{2**70}]", "\\" * 999],
)
def test_hostile_prompts_end_in_text_not_errors(text: str) -> None:
    entries = schedule(text, 1000)
    assert entries[-1][0] == 1000
    assert all(isinstance(t, str) for _, t in entries)


def test_huge_when_is_the_last_step() -> None:
    assert schedule(f"[a:b:{2**70}]", 5) == [(5, "a")]
