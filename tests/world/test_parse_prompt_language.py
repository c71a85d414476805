"""Shapes World reads A1111's prompt language as one fixed scene, and numbers that are
not counts (weights, `when`, stray decimals) never become counts."""

from __future__ import annotations

import pytest

from genlab.world.parse import parse_prompt


def objects_of(text: str) -> list[tuple]:
    return [(o.shape, o.colour) for o in parse_prompt(text).scene_spec.objects]


@pytest.mark.parametrize(
    "text",
    [
        "a red circle 0.3",
        "a red circle 5",
        "a (red:1.3) circle",
        "(a red circle:1.5)",
        "a red circle:0.7",
        "a red circle .5",
        "(red:1.3 circle",
        "a [red circle:0.25]",
        "[a blue square:a red circle:0.5]",
        "[a red circle:a blue square:12]",
    ],
)
def test_weights_whens_and_stray_numbers_are_never_counts(text: str) -> None:
    found = objects_of(text)
    assert len(found) == 1, found
    assert found[0] in (("circle", "red"), ("square", "blue"))


def test_editing_reads_as_its_final_text() -> None:
    assert objects_of("[a blue square:a red circle:0.5]") == [("circle", "red")]
    assert objects_of("a red circle [and a blue square:3]") == [
        ("circle", "red"),
        ("square", "blue"),
    ]
    assert objects_of("a red circle [and a blue square::3]") == [("circle", "red")]


def test_alternation_reads_as_its_first_option() -> None:
    assert objects_of("a [red|blue] star") == [("star", "red")]


def test_and_reads_only_its_first_clause() -> None:
    assert objects_of("a red circle AND a blue square:0.5") == [("circle", "red")]


def test_counts_before_what_they_count_still_count() -> None:
    assert objects_of("2 red circles") == [("circle", "red")] * 2
    assert objects_of("3 big discs") == [("circle", None)] * 3
    assert objects_of("2 red") == [(None, "red")] * 2


def test_a_stray_number_is_reported_as_ignored() -> None:
    assert parse_prompt("a red circle 0.3").unknown_words == ["0.3"]
    assert parse_prompt("a red circle 7").unknown_words == ["7"]
