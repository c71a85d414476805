"""`genlab recolor` and `genlab palette` end to end, and their one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from genlab.cli.colour import palette, recolor
from genlab.core.imageio import read_metadata
from genlab.core.metadata import parse_parameters

app = typer.Typer()
app.command("recolor")(recolor)
app.command("palette")(palette)
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("photos")
    source, reference = folder / "astronaut.png", folder / "coffee.jpg"
    Image.fromarray(data.astronaut()).resize((96, 96)).save(source)
    Image.fromarray(data.coffee()).resize((120, 80)).save(reference)
    return source, reference


@pytest.mark.parametrize("method", ["reinhard", "histogram", "ot"])
def test_recolor_like_writes_image_with_parameters(photos, tmp_path: Path, method: str) -> None:
    source, reference = photos
    result = invoke("recolor", source, "--like", reference, "--method", method, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    (saved,) = tmp_path.iterdir()
    assert saved.name == "astronaut-recolor.png"
    assert "distance to reference palette: before" in result.output
    params = parse_parameters(read_metadata(saved).parameters).params
    assert params["Postprocess method"] == method
    assert params["Postprocess reference"] == str(reference)
    assert params["Postprocess tool"] == "recolor"
    assert "->" in params["Postprocess distance"]
    assert not np.array_equal(np.asarray(Image.open(saved)), np.asarray(Image.open(source)))


def test_recolor_to_preset_keeps_alpha(photos, tmp_path: Path) -> None:
    rgba = Image.open(photos[0]).convert("RGBA")
    alpha = np.zeros((96, 96), np.uint8)
    alpha[20:70, 10:90] = 255
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "cut.png")
    out = tmp_path / "result.png"
    result = invoke("recolor", tmp_path / "cut.png", "--palette", "golden-hour", "-o", out)
    assert result.exit_code == 0, result.output
    assert "distance to target palette" in result.output
    saved = Image.open(out)
    assert saved.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(saved)[..., 3], alpha)
    params = parse_parameters(read_metadata(out).parameters).params
    assert params["Postprocess palette"] == "golden-hour"


def test_recolor_to_hex_list_and_greyscale_16bit_input(tmp_path: Path) -> None:
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")  # mode I;16
    result = invoke(
        "recolor", tmp_path / "grey16.png", "--palette", "#102030,#f0c080", "-o", tmp_path / "o"
    )
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / "grey16-recolor.png").mode == "RGB"


def test_palette_prints_list_json_and_writes_swatch(photos, tmp_path: Path) -> None:
    result = invoke("palette", photos[0], "-k", "4", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert len([line for line in result.output.splitlines() if "%" in line]) == 4
    result = invoke("palette", photos[0], "-k", "4", "--json", "-o", tmp_path)
    report = json.loads(result.output)
    assert len(report["colours"]) == 4
    assert sum(c["weight"] for c in report["colours"]) == pytest.approx(1.0, abs=1e-4)
    swatch = Path(report["swatch"])
    assert swatch.name == "astronaut-palette-2.png"
    params = parse_parameters(read_metadata(swatch).parameters).params
    assert params["Postprocess palette"] == " ".join(c["hex"] for c in report["colours"])


def test_palette_of_cmyk_and_palette_mode_images(tmp_path: Path) -> None:
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    indexed = Image.new("P", (20, 20), 1)
    indexed.putpalette([0, 0, 0, 10, 200, 30])
    indexed.save(tmp_path / "p.png")
    for name in ("cmyk.jpg", "p.png"):
        result = invoke("palette", tmp_path / name, "-k", "3", "--json", "-o", tmp_path / "o")
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.output)["colours"]) == 1  # one flat colour


def refused(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--palette", "sepia"], ["unknown palette 'sepia'", "vivid-autumn", "neon"]),
        (["--palette", "#ff0000,#12g"], ["'#12g'", "#rrggbb or #rgb"]),
        ([], ["neither", "exactly one"]),
        (["--palette", "neon", "--like", "REF"], ["both", "exactly one"]),
        (["--like", "REF", "--method", "magic"], ["magic", "reinhard, histogram, ot"]),
        (["--palette", "noir", "--strength", "2"], ["strength=2.0", "from 0 to 1"]),
        (["--like", "missing.png"], ["reference missing.png does not exist"]),
    ],
)
def test_recolor_refuses_bad_input(photos, tmp_path: Path, args, needles) -> None:
    source, reference = photos
    args = [str(reference) if a == "REF" else a for a in args]
    refused(invoke("recolor", source, *args, "-o", tmp_path / "out"), *needles)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("k", ["0", "17"])
def test_palette_refuses_k_out_of_range(photos, tmp_path: Path, k: str) -> None:
    refused(invoke("palette", photos[0], "-k", k, "-o", tmp_path / "out"), f"k={k}", "1 to 16")
    assert not (tmp_path / "out").exists()


def test_corrupt_files_and_bombs_are_refused(
    photos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(photos[0].read_bytes()[:200])
    refused(invoke("recolor", broken, "--palette", "noir", "-o", tmp_path / "a"), "broken.png")
    refused(invoke("palette", tmp_path / "nothing.png", "-o", tmp_path / "a"), "does not exist")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    refused(invoke("palette", photos[0], "-o", tmp_path / "a"), "decompression bomb")
    assert not (tmp_path / "a").exists()
