"""Rendering: sizes, anti-aliasing, palette fidelity, styles and lighting."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from genlab.core.errors import InvalidRequest
from genlab.world.render import render
from genlab.world.scene import Scene, ShapeObject
from genlab.world.vocab import COLOURS, LIGHTINGS, SHAPES, STYLES


def single(shape: str = "circle", colour: str = "red", **setting: str) -> Scene:
    obj = ShapeObject(shape, colour, "large", 0.5, 0.5)
    return Scene(objects=(obj,), **{"background": "white", **setting})


@pytest.mark.parametrize(("width", "height"), [(8, 8), (64, 32), (256, 256), (120, 200)])
def test_any_multiple_of_eight_renders_at_that_size(width: int, height: int) -> None:
    image = render(single(), width, height)
    assert image.mode == "RGB" and image.size == (width, height)


@pytest.mark.parametrize(("width", "height"), [(100, 64), (64, 60), (0, 64), (64, 8192)])
def test_other_sizes_are_refused(width: int, height: int) -> None:
    with pytest.raises(InvalidRequest, match="must be a multiple of 8"):
        render(single(), width, height)


def test_edges_are_antialiased() -> None:
    pixels = np.asarray(render(single(), 64, 64)).astype(int)
    red, white = np.array(COLOURS["red"]), np.array(COLOURS["white"])
    row = pixels[32]
    inside = np.all(row == red, axis=1)
    outside = np.all(row == white, axis=1)
    between = ~inside & ~outside
    assert inside.any() and outside.any() and between.any()
    # Edge pixels lie between the two colours, not off somewhere else.
    green = row[between, 1]
    assert np.all((green > red[1]) & (green < white[1]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("style", ["flat", "outlined"])
def test_noon_keeps_the_palette_colour_at_the_centre(shape: str, style: str) -> None:
    for colour, rgb in COLOURS.items():
        background = "black" if colour == "white" else "white"
        image = render(single(shape, colour, style=style, background=background), 64, 64)
        assert np.abs(np.asarray(image)[32, 32].astype(int) - rgb).max() <= 2, (shape, colour)


def test_lighting_and_style_change_the_look() -> None:
    seen = set()
    for lighting in LIGHTINGS:
        for style in STYLES:
            image = render(single(lighting=lighting, style=style), 32, 32)
            seen.add(image.tobytes())
    assert len(seen) == len(LIGHTINGS) * len(STYLES)


def test_night_is_darker_and_bluer_than_noon() -> None:
    noon = np.asarray(render(single(lighting="noon"), 32, 32)).astype(float)
    night = np.asarray(render(single(lighting="night"), 32, 32)).astype(float)
    assert night.mean() < 0.6 * noon.mean()
    assert night[..., 2].mean() > night[..., 0].mean()


def test_golden_hour_is_warm_and_keeps_red_red() -> None:
    image = np.asarray(render(single(lighting="golden_hour"), 64, 64)).astype(int)
    background = image[4, 4]
    assert background[0] > background[2] + 20  # white paper turns warm
    r, g, b = image[32, 32]
    assert r > 2 * g and r > 2 * b


def test_monochrome_is_grey() -> None:
    pixels = np.asarray(render(single(style="monochrome", lighting="golden_hour"), 32, 32))
    assert np.array_equal(pixels[..., 0], pixels[..., 1])
    assert np.array_equal(pixels[..., 1], pixels[..., 2])


def test_same_scene_same_pixels_and_rng_varies_watercolour() -> None:
    scene = single(style="watercolour")
    first = render(scene, 64, 64).tobytes()
    assert render(scene, 64, 64).tobytes() == first
    one = render(scene, 64, 64, rng=random.Random(1)).tobytes()
    assert render(scene, 64, 64, rng=random.Random(1)).tobytes() == one
    assert render(scene, 64, 64, rng=random.Random(2)).tobytes() != one


def test_object_sits_where_the_scene_says_on_a_wide_canvas() -> None:
    obj = ShapeObject("square", "blue", "small", 0.75, 0.25)
    scene = dataclasses.replace(single(), objects=(obj,))
    pixels = np.asarray(render(scene, 128, 64)).astype(int)
    ys, xs = np.nonzero(np.all(pixels == COLOURS["blue"], axis=2))
    assert abs(xs.mean() - 0.75 * 128) < 1.5 and abs(ys.mean() - 0.25 * 64) < 1.5
    # Its box uses the shorter side: 2 * 0.07 * 64 pixels across, square on screen.
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 1
