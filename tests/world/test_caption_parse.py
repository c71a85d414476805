"""Captions and the prompt parser: words to scenes and back, exactly."""

from __future__ import annotations

import random

import pytest

from genlab.core.errors import GenlabError
from genlab.world.caption import caption, captions
from genlab.world.parse import parse_prompt, scene_from_prompt
from genlab.world.scene import ObjectSpec, Relation, Scene, ShapeObject, random_scene
from genlab.world.vocab import vocabulary


def objects_of(text: str) -> list[tuple[str | None, str | None, str | None]]:
    return [(o.shape, o.colour, o.size) for o in parse_prompt(text).scene_spec.objects]


def test_every_phrasing_of_random_scenes_parses_back() -> None:
    for seed in range(300):
        scene = random_scene(random.Random(seed))
        texts = captions(scene, random.Random(seed))
        assert len(texts) >= 4
        for text in texts:
            result = parse_prompt(text)
            assert result.unknown_words == [], text
            assert result.scene_spec.signature() == scene.spec().signature(), text


def test_caption_picks_one_of_the_phrasings() -> None:
    scene = random_scene(random.Random(3))
    text = caption(scene, random.Random(0))
    assert parse_prompt(text).scene_spec.signature() == scene.spec().signature()


def test_identical_objects_are_counted_in_captions() -> None:
    star = ShapeObject("star", "yellow", "small", 0.3, 0.2)
    scene = Scene(
        objects=(
            star,
            ShapeObject("star", "yellow", "small", 0.7, 0.2),
            ShapeObject("hexagon", "purple", "large", 0.5, 0.7),
        ),
        relations=(Relation(0, "above", 2), Relation(1, "above", 2)),
        lighting="night",
    )
    texts = captions(scene, random.Random(0))
    assert all("two " in t and "stars" in t for t in texts)


def test_the_issue_example() -> None:
    spec = parse_prompt("two small yellow stars above a large purple hexagon at night").scene_spec
    assert [(o.shape, o.colour, o.size) for o in spec.objects] == [
        ("star", "yellow", "small"),
        ("star", "yellow", "small"),
        ("hexagon", "purple", "large"),
    ]
    assert set(spec.relations) == {Relation(0, "above", 2), Relation(1, "above", 2)}
    assert spec.lighting == "night"
    assert spec.background is None and spec.style is None


@pytest.mark.parametrize(
    ("text", "relation"),
    [
        ("a red circle left of a blue square", Relation(0, "left_of", 1)),
        ("a red circle to the left of a blue square", Relation(0, "left_of", 1)),
        ("a red circle on the left of a blue square", Relation(0, "left_of", 1)),
        ("a red circle to the right of a blue square", Relation(0, "right_of", 1)),
        ("a red circle over a blue square", Relation(0, "above", 1)),
        ("a red circle under a blue square", Relation(0, "below", 1)),
        ("a red circle beneath a blue square", Relation(0, "below", 1)),
    ],
)
def test_relation_phrases(text: str, relation: Relation) -> None:
    assert parse_prompt(text).scene_spec.relations == (relation,)


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ("a circle on a blue background", ("blue", None, None)),
        ("green background, a circle", ("green", None, None)),
        ("a circle, background gray", ("grey", None, None)),
        ("a circle in watercolour style", (None, None, "watercolour")),
        ("a watercolor painting of a circle", (None, None, "watercolour")),
        ("a circle at golden hour", (None, "golden_hour", None)),
        ("a circle at noon, outlined", (None, "noon", "outlined")),
        ("a circle at night, monochrome", (None, "night", "monochrome")),
    ],
)
def test_setting_phrases(text: str, setting: tuple) -> None:
    spec = parse_prompt(text).scene_spec
    assert (spec.background, spec.lighting, spec.style) == setting
    assert objects_of(text) == [("circle", None, None)]


def test_plurals_counts_synonyms_and_open_attributes() -> None:
    assert objects_of("stars") == [("star", None, None)] * 2
    assert objects_of("3 big discs") == [("circle", None, "large")] * 3
    assert objects_of("a tiny violet heart") == [("heart", "purple", "small")]
    assert objects_of("something red") == [(None, "red", None)]
    assert objects_of("at night") == []


def test_a1111_weights_are_stripped() -> None:
    text = "((a red circle)) left of [a (blue:0.8) square], (night:1.3)"
    result = parse_prompt(text)
    assert objects_of(text) == [("circle", "red", None), ("square", "blue", None)]
    assert result.scene_spec.lighting == "night" and result.unknown_words == []


def test_unknown_words_are_reported_in_order() -> None:
    result = parse_prompt("a fluffy red dragon circle next to a square, fluffy")
    assert result.unknown_words == ["fluffy", "dragon", "next"]
    assert objects_of("a fluffy red dragon circle") == [("circle", "red", None)]


def test_a_dangling_relation_is_reported_not_dropped() -> None:
    result = parse_prompt("a red circle above")
    assert result.unknown_words == ["above"] and result.scene_spec.relations == ()


def test_clauses_keep_relations_apart() -> None:
    spec = parse_prompt("a red circle left of a blue square; a green star").scene_spec
    assert spec.relations == (Relation(0, "left_of", 1),) and len(spec.objects) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("two red circles and two blue squares", "draws 1 to 3 objects, not 4"),
        ("five stars", "draws 1 to 3 objects, not 5"),
        ("a red blue circle", "one colour per object, got red and blue"),
        ("a circle at night at noon", "one lighting per image, got night and noon"),
    ],
)
def test_impossible_prompts_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(GenlabError, match=message) as info:
        parse_prompt(text)
    assert "\n" not in str(info.value)


def test_scene_from_prompt_fills_the_rest_and_honours_relations() -> None:
    text = "two small yellow stars above a large purple hexagon at night"
    for seed in range(30):
        scene, unknown = scene_from_prompt(text, random.Random(seed))
        assert unknown == []
        assert scene.spec().signature() == (
            (
                ("hexagon", "purple", "large"),
                ("star", "yellow", "small"),
                ("star", "yellow", "small"),
            ),
            ((("star", "yellow", "small"), "above", ("hexagon", "purple", "large")),) * 2,
            scene.background,
            "night",
            scene.style,
        )
        assert scene.relations_hold()
        assert scene.background not in ("yellow", "purple")


def test_scene_from_prompt_is_seeded() -> None:
    first = scene_from_prompt("a heart", random.Random(5))[0]
    assert scene_from_prompt("a heart", random.Random(5))[0] == first
    others = {scene_from_prompt("a heart", random.Random(s))[0] for s in range(10)}
    assert len(others) > 1
    assert all(o.objects[0].shape == "heart" for o in others)


def test_open_colour_avoids_the_given_background() -> None:
    for seed in range(30):
        scene, _ = scene_from_prompt("a circle on a red background", random.Random(seed))
        assert scene.objects[0].colour != "red"


def test_open_spec_object_is_allowed() -> None:
    assert ObjectSpec() == ObjectSpec(None, None, None)


def test_a_colour_after_background_that_starts_an_object_stays_with_it() -> None:
    spec = parse_prompt("background, red circle").scene_spec
    assert spec.background is None and objects_of("background, red circle") == [
        ("circle", "red", None)
    ]
    assert parse_prompt("background blue red circle").scene_spec.background == "blue"


def test_relations_no_chain_can_say_are_refused() -> None:
    objects = tuple(ShapeObject("circle", "red", "small", x, 0.5) for x in (0.2, 0.5, 0.8))
    every_pair = (Relation(0, "left_of", 1), Relation(1, "left_of", 2), Relation(0, "left_of", 2))
    with pytest.raises(GenlabError, match="cannot be said as chains"):
        captions(Scene(objects=objects, relations=every_pair), random.Random(0))


def test_vocabulary_lists_single_words() -> None:
    words = vocabulary()
    assert {"watercolor", "stars", "golden", "hour", "grey", "gray"} <= set(words)
    assert all(" " not in w for w in words) and words == sorted(words)
