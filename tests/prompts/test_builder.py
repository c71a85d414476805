"""Descriptor sets and phrase edits; Shapes World reads each set's own words."""

from __future__ import annotations

import random

import pytest

from genlab.prompts.builder import add_descriptors, remove_descriptors, split_phrases
from genlab.world.descriptors import (
    DESCRIPTOR_SETS,
    descriptor_set,
    stack_descriptors,
)
from genlab.world.parse import scene_from_prompt


def test_sets_are_named_and_big_enough_for_a_density_of_8() -> None:
    assert set(DESCRIPTOR_SETS) == {"colour", "lighting", "style", "mood"}
    for words in DESCRIPTOR_SETS.values():
        assert len(words) >= 8 and len(set(words)) == len(words)


@pytest.mark.parametrize(
    ("descriptor", "attribute", "value"),
    [
        ("at golden hour", "lighting", "golden_hour"),
        ("at night", "lighting", "night"),
        ("watercolour style", "style", "watercolour"),
        ("monochrome style", "style", "monochrome"),
        ("purple background", "background", "purple"),
    ],
)
def test_shapes_world_descriptors_change_the_scene(descriptor, attribute, value) -> None:
    assert descriptor in {w for words in DESCRIPTOR_SETS.values() for w in words}
    scene, unknown = scene_from_prompt(
        add_descriptors("a red circle", [descriptor]), random.Random(0)
    )
    assert getattr(scene, attribute) == value and unknown == []


def test_add_skips_what_is_there_and_remove_drops_whole_phrases() -> None:
    prompt = add_descriptors("a red circle, At Night", ["at night", "flat style", "flat style"])
    assert prompt == "a red circle, At Night, flat style"
    assert remove_descriptors(prompt, ["at night"]) == "a red circle, flat style"
    assert remove_descriptors("a nightly circle", ["night"]) == "a nightly circle"
    assert split_phrases(" a,, b ,c ") == ["a", "b", "c"]


def test_stacks_hold_one_shapes_world_word_then_general_ones() -> None:
    assert (
        stack_descriptors("a circle", "style", 3) == "a circle, flat style, oil painting, pixel art"
    )
    taken = stack_descriptors("a watercolour circle", "style", 2)
    assert taken == "a watercolour circle, oil painting, pixel art"
    for name in DESCRIPTOR_SETS:
        stacked = stack_descriptors("a red circle at sunset", name, 8)
        scene_from_prompt(stacked, random.Random(0))  # one scene: nothing contradicts


def test_an_unknown_set_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown descriptor set 'weather'; known: colour, lighting"):
        descriptor_set("weather")
