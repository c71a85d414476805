"""Palettes: extraction, distance, presets, files and hex parsing, recolouring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.transform import resize

from genlab.core.errors import InvalidRequest
from genlab.transfer.colour import rgb_to_lab
from genlab.transfer.palette import (
    MAX_COLOURS,
    Palette,
    PaletteError,
    extract_palette,
    palette_distance,
    parse_hex,
    parse_palette,
    preset,
    preset_names,
    read_palette_file,
    recolor_to_palette,
    render_swatch,
)

BLOCKS = [(200, 30, 40), (30, 120, 200), (240, 220, 90), (40, 40, 40)]
SHARES = [0.4, 0.3, 0.2, 0.1]


def blocks_image(noise: float = 4.0) -> np.ndarray:
    """Four flat colour bands covering 40/30/20/10 % of the picture, plus noise."""
    rows = [np.tile(np.array(c, float), (round(120 * s), 100, 1)) for c, s in zip(BLOCKS, SHARES)]
    image = np.concatenate(rows) + np.random.default_rng(1).normal(0, noise, (120, 100, 3))
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def test_extraction_recovers_block_colours_and_shares() -> None:
    found = extract_palette(blocks_image(), 4)
    assert found.colours and len(found.colours) == 4
    truth = rgb_to_lab(np.array(BLOCKS, np.uint8)).astype(float)
    got = found.lab()
    for colour, share in zip(truth, SHARES):  # ground truth is in weight order
        nearest = np.linalg.norm(got - colour, axis=1).argmin()
        assert np.linalg.norm(got[nearest] - colour) < 2.0  # ΔE76
        assert found.weights[nearest] == pytest.approx(share, abs=0.01)
    assert list(found.weights) == sorted(found.weights, reverse=True)


def test_extraction_is_seeded_and_k_is_checked() -> None:
    photo = resize(data.coffee(), (100, 150), anti_aliasing=True)
    photo = (photo * 255).astype(np.uint8)
    assert extract_palette(photo, 5, seed=3) == extract_palette(photo, 5, seed=3)
    for bad in (0, MAX_COLOURS + 1):
        with pytest.raises(InvalidRequest, match=r"k=.* an integer from 1 to 16"):
            extract_palette(photo, bad)


def test_image_with_fewer_colours_than_k_gives_fewer() -> None:
    two = np.zeros((10, 10, 3), np.uint8)
    two[5:] = 255
    found = extract_palette(two, 6)
    assert sorted(found.hex) == ["#000000", "#ffffff"]
    assert found.weights == (0.5, 0.5)


def test_palette_distance_is_zero_symmetric_and_grows_with_shift() -> None:
    a = Palette(((200, 30, 40), (30, 120, 200), (240, 220, 90)), (0.5, 0.3, 0.2))
    assert palette_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    b = preset("neon")
    assert palette_distance(a, b) == pytest.approx(palette_distance(b, a), rel=1e-9)

    def shifted(delta: int) -> Palette:
        return Palette(tuple((r, min(g + delta, 255), b) for r, g, b in a.colours), a.weights)

    distances = [palette_distance(a, shifted(d)) for d in (5, 15, 30)]
    assert distances[0] > 0 and distances == sorted(distances)
    # Weights matter: the same colours in other proportions are apart too.
    assert palette_distance(a, Palette(a.colours, (0.2, 0.3, 0.5))) > 1.0


def test_presets_parse() -> None:
    assert {"vivid-autumn", "monochrome", "pastel", "noir", "golden-hour", "neon"} <= set(
        preset_names()
    )
    for name in preset_names():
        palette = parse_palette(name)
        assert palette.name == name and 1 <= len(palette.colours) <= MAX_COLOURS
        assert sum(palette.weights) == pytest.approx(1.0)
    with pytest.raises(PaletteError, match=r"unknown palette 'sepia'.*vivid-autumn, monochrome"):
        parse_palette("sepia")


def test_hex_parsing_and_errors() -> None:
    assert parse_hex("#abc") == (0xAA, 0xBB, 0xCC)
    assert parse_hex("#1A2b3C") == (0x1A, 0x2B, 0x3C)
    assert parse_palette("#ff0000, #00f").hex == ("#ff0000", "#0000ff")
    for bad in ("#12", "12ab34", "#12ab3z", "#1234567"):
        with pytest.raises(PaletteError, match=f"'{bad}' is not a hex colour: use #rrggbb or #rgb"):
            parse_hex(bad)
    with pytest.raises(PaletteError, match="'#ggg'"):
        parse_palette("#fff,#ggg")


def test_text_palette_file_with_comments_weights_and_names(tmp_path: Path) -> None:
    path = tmp_path / "brand.txt"
    path.write_text(
        "# Brand colours\n\n#0a2342 3 Navy\n#f5b700, 25%, Sun yellow\n#ffffff Paper\n// end\n"
    )
    palette = read_palette_file(path)
    assert palette.name == "brand"
    assert palette.hex == ("#0a2342", "#f5b700", "#ffffff")
    assert palette.names == ("Navy", "Sun yellow", "Paper")
    assert palette.weights == pytest.approx((3 / 29, 25 / 29, 1 / 29))
    path.write_text("#0a2342\n#f5b7\n")
    with pytest.raises(PaletteError, match=r"'#f5b7' is not a hex colour.*line 2\)"):
        read_palette_file(path)


def test_json_palette_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text('["#000", "#fff"]')
    assert parse_palette(str(plain)).hex == ("#000000", "#ffffff")
    full = tmp_path / "full.json"
    full.write_text('{"name": "x", "colours": [{"hex": "#f00", "weight": 3, "name": "red"}]}')
    assert read_palette_file(full).names == ("red",)
    full.write_text('{"colours": [{"colour": "#f00"}]}')
    with pytest.raises(PaletteError, match="has no hex"):
        read_palette_file(full)
    with pytest.raises(PaletteError, match="does not exist"):
        parse_palette(str(tmp_path / "missing.txt"))
    many = tmp_path / "many.txt"
    many.write_text("\n".join(["#123456"] * 17))
    with pytest.raises(PaletteError, match="17 colours; at most 16"):
        read_palette_file(many)


@pytest.mark.parametrize("name", ["vivid-autumn", "monochrome", "pastel", "neon"])
def test_recolor_to_palette_moves_towards_the_palette(name: str) -> None:
    photo = (resize(data.astronaut(), (128, 128), anti_aliasing=True) * 255).astype(np.uint8)
    target = preset(name)
    k = len(target.colours)
    out = recolor_to_palette(photo, target)
    before = palette_distance(extract_palette(photo, k), target)
    after = palette_distance(extract_palette(out, k), target)
    assert after < 0.85 * before
    # Not posterised: the result keeps many distinct colours.
    assert len(np.unique(out.reshape(-1, 3), axis=0)) > 0.5 * len(
        np.unique(photo.reshape(-1, 3), axis=0)
    )


def test_swatch_has_a_bar_per_colour() -> None:
    palette = preset("neon")
    swatch = render_swatch(palette)
    assert swatch.width == 480
    top = np.asarray(swatch)[10]  # the weight strip's first row
    assert tuple(top[2]) == palette.colours[0]
    assert tuple(top[-2]) == palette.colours[-1]
