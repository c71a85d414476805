"""Scene graph: validation, JSON round trip, layouts that satisfy their relations."""

from __future__ import annotations

import json
import random

import pytest

from genlab.core.errors import GenlabError
from genlab.world.scene import (
    Relation,
    Scene,
    ShapeObject,
    boxes_apart,
    layout,
    random_scene,
    relation_holds,
)


def test_json_round_trip_is_exact() -> None:
    for seed in range(50):
        scene = random_scene(random.Random(seed))
        text = json.dumps(scene.to_dict())
        assert Scene.from_dict(json.loads(text)) == scene


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"shape": "dragon"}, "shape='dragon' is invalid: must be one of circle"),
        ({"colour": "mauve"}, "colour='mauve' is invalid"),
        ({"size": "huge"}, "size='huge' is invalid: must be one of small, medium, large"),
        ({"x": 1.5}, "x=1.5 is invalid: must be a number from 0 to 1"),
    ],
)
def test_bad_object_fields_name_field_and_allowed_values(data: dict, message: str) -> None:
    fields = {"shape": "circle", "colour": "red", "size": "small", "x": 0.5, "y": 0.5, **data}
    with pytest.raises(GenlabError, match=message):
        ShapeObject(**fields)


def test_scene_refuses_bad_counts_indices_and_keys() -> None:
    obj = ShapeObject("circle", "red", "small", 0.5, 0.5)
    with pytest.raises(GenlabError, match="a scene has 1 to 3"):
        Scene(objects=(obj,) * 4)
    with pytest.raises(GenlabError, match="indices must be 0 to 0"):
        Scene(objects=(obj,), relations=(Relation(0, "above", 1),))
    with pytest.raises(GenlabError, match="two different objects"):
        Relation(1, "above", 1)
    with pytest.raises(GenlabError, match="not a Shapes World scene dict"):
        Scene.from_dict({"objects": []})


def test_random_scenes_satisfy_relations_with_margin_and_keep_boxes_apart() -> None:
    kinds = set()
    for seed in range(300):
        scene = random_scene(random.Random(seed))
        assert scene.relations_hold()
        for i, a in enumerate(scene.objects):
            assert a.extent <= a.x <= 1 - a.extent and a.extent <= a.y <= 1 - a.extent
            for b in scene.objects[i + 1 :]:
                assert boxes_apart(a, b)
        kinds.add((len(scene.objects), len(scene.relations)))
    # The sampler covers every structure the captioner knows.
    assert kinds == {(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)}


def test_relation_holds_needs_margin_and_the_right_axis() -> None:
    a = ShapeObject("circle", "red", "small", 0.2, 0.5)
    b = ShapeObject("square", "blue", "small", 0.6, 0.55)
    assert relation_holds(a, "left_of", b) and relation_holds(b, "right_of", a)
    assert not relation_holds(a, "above", b)  # a is higher, but mostly to the left
    close = ShapeObject("square", "blue", "small", 0.25, 0.5)
    assert not relation_holds(a, "left_of", close)


def test_layout_squeezes_three_large_in_a_row_only_when_allowed() -> None:
    relations = [Relation(0, "left_of", 1), Relation(1, "left_of", 2)]
    sizes = ["large", "large", "large"]
    centres = layout(sizes, relations, random.Random(0))
    xs = [x for x, _ in centres]
    assert xs[0] + 0.1 <= xs[1] and xs[1] + 0.1 <= xs[2]
    apart = [
        boxes_apart(*(ShapeObject("star", "red", "large", x, y) for x, y in pair))
        for pair in [(centres[0], centres[1]), (centres[1], centres[2])]
    ]
    assert not all(apart)  # they had to move closer than the strict gap


def test_layout_refuses_relations_that_contradict() -> None:
    relations = [Relation(0, "left_of", 1), Relation(1, "left_of", 0)]
    with pytest.raises(GenlabError, match="cannot place 2 objects"):
        layout(["small", "small"], relations, random.Random(0))


def test_same_rng_seed_gives_same_scene() -> None:
    assert random_scene(random.Random(7)) == random_scene(random.Random(7))
