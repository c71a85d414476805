"""The Shapes World detector recovers scenes from renders (the adherence judge)."""

from __future__ import annotations

import random

from PIL import Image

from genlab.world.detect import detect, matches
from genlab.world.render import render
from genlab.world.scene import Relation, Scene, ShapeObject, random_scene


def test_a_single_red_circle_is_found_where_it_was_drawn() -> None:
    scene = Scene(objects=(ShapeObject("circle", "red", "large", 0.3, 0.6),))
    found = detect(render(scene, 128, 128))
    assert len(found.objects) == 1
    obj = found.objects[0]
    assert (obj.shape, obj.colour, obj.size) == ("circle", "red", "large")
    assert abs(obj.x - 0.3) < 0.02 and abs(obj.y - 0.6) < 0.02
    assert (found.background, found.lighting, found.monochrome) == ("white", "noon", False)


def test_every_shape_and_colour_at_night_in_outline() -> None:
    shapes = ("circle", "square", "triangle", "star", "heart", "hexagon")
    for i, shape in enumerate(shapes):
        colour = ("blue", "yellow", "green", "pink", "orange", "purple")[i]
        scene = Scene(
            objects=(ShapeObject(shape, colour, "medium", 0.5, 0.5),),
            background="black" if i % 2 else "white",
            lighting="night",
            style="outlined",
        )
        (obj,) = detect(render(scene, 128, 128)).objects
        assert (obj.shape, obj.colour, obj.size) == (shape, colour, "medium")


def test_monochrome_reports_no_colour_and_relations_read_from_positions() -> None:
    scene = Scene(
        objects=(
            ShapeObject("star", "yellow", "small", 0.25, 0.3),
            ShapeObject("square", "blue", "large", 0.7, 0.7),
        ),
        relations=(Relation(0, "left_of", 1),),
        background="white",
        style="monochrome",
    )
    found = detect(render(scene, 128, 128))
    assert found.monochrome
    assert sorted((o.shape, o.colour) for o in found.objects) == [("square", None), ("star", None)]
    assert matches(scene, found)


def test_an_empty_picture_has_no_objects() -> None:
    assert detect(Image.new("RGB", (64, 64), (130, 130, 130))).objects == ()


def test_random_scenes_are_recovered_at_128px() -> None:
    """The benchmark measures 99.8% on 400 scenes; 40 here must all but one pass."""
    hits = 0
    for seed in range(1000, 1040):
        rng = random.Random(seed)
        scene = random_scene(rng)
        hits += matches(scene, detect(render(scene, 128, 128, rng=rng)))
    assert hits >= 39
