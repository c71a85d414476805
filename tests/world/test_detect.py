"""The Shapes World detector recovers scenes from renders (the adherence judge)."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

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


# Diffusion model outputs at 64 px look like renders blurred by 1-1.5 px, with noise.
def _blurred(image: Image.Image, sigma: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(sigma))


def _noisy(image: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    data = np.asarray(image, np.float32) + rng.normal(0, 12, (image.height, image.width, 3))
    return Image.fromarray(np.clip(data, 0, 255).astype(np.uint8))


def _hits(degrade: Callable[[Image.Image, int], Image.Image], seeds: range) -> int:
    hits = 0
    for seed in seeds:
        rng = random.Random(seed)
        scene = random_scene(rng)
        hits += matches(scene, detect(degrade(render(scene, 64, 64, rng=rng), seed)))
    return hits


def test_random_scenes_are_recovered_at_64px_when_blurred() -> None:
    """The benchmark measures ~93% with a 1 px blur at 64 px; an outline matcher
    that ignores blur gets ~56%."""
    assert _hits(lambda image, _: _blurred(image, 1.0), range(2000, 2060)) >= 48


def test_random_scenes_are_recovered_at_64px_when_noisy() -> None:
    """The benchmark measures ~90% with noise of sigma 12/255 (these scenes: 50/60);
    ~60% without allowing for it (noise specks become objects, grey looks coloured)."""
    assert _hits(_noisy, range(3000, 3060)) >= 46


def test_blur_does_not_merge_close_objects() -> None:
    # Two small squares whose boxes are ~3 px apart at 64 px: blur bridges them.
    scene = Scene(
        objects=(
            ShapeObject("square", "orange", "small", 0.53, 0.37),
            ShapeObject("square", "orange", "small", 0.61, 0.18),
        ),
        relations=(Relation(1, "above", 0),),
        background="grey",
        lighting="sunset",
    )
    found = detect(_blurred(render(scene, 64, 64), 1.5))
    assert [(o.shape, o.colour, o.size) for o in found.objects] == [
        ("square", "orange", "small")
    ] * 2
    assert matches(scene, found)


def test_blur_keeps_a_small_objects_size_and_colour() -> None:
    # Blur dims a small object's core towards the background: read naively, white
    # turns pink-grey and the coverage, scaled to that dim colour, looks larger.
    for colour, background in (("white", "blue"), ("red", "black"), ("blue", "orange")):
        scene = Scene(
            objects=(ShapeObject("triangle", colour, "small", 0.4, 0.6),),
            background=background,
        )
        (obj,) = detect(_blurred(render(scene, 64, 64), 1.5)).objects
        assert (obj.shape, obj.colour, obj.size) == ("triangle", colour, "small")


def test_noisy_monochrome_is_still_monochrome() -> None:
    scene = Scene(
        objects=(ShapeObject("heart", "red", "large", 0.5, 0.5),),
        background="white",
        style="monochrome",
    )
    found = detect(_noisy(render(scene, 64, 64), 0))
    assert found.monochrome
    assert [(o.shape, o.size) for o in found.objects] == [("heart", "large")]
