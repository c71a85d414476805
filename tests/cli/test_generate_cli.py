"""`genlab generate`, `info`, `--from`: end to end through the real CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from genlab.cli.main import app
from genlab.core.metadata import parse_parameters, read_metadata

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_procedural_batch_writes_numbered_files_grid_and_metadata(tmp_path: Path) -> None:
    result = invoke(
        "generate",
        "a large red circle left of a small blue square",
        "--seed",
        "42",
        "-b",
        "3",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["00001-42.png", "00002-43.png", "00003-44.png", "grid-0001.png"]
    params = parse_parameters(read_metadata(tmp_path / "00002-43.png").parameters)
    assert params.prompt == "a large red circle left of a small blue square"
    assert params.params["Seed"] == "43"
    assert params.params["Size"] == "256x256"
    assert params.params["Model"] == "shapes-world"
    # One pass, no sampler: honest values that A1111 metadata readers recognise.
    assert (params.params["Steps"], params.params["Sampler"]) == ("1", "procedural")
    assert "CFG scale" not in params.params


def test_numbering_continues_after_existing_files(tmp_path: Path) -> None:
    invoke("generate", "a red circle", "--seed", "1", "-o", str(tmp_path))
    invoke("generate", "a red circle", "--seed", "5", "-o", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00001-1.png", "00002-5.png"]


def test_info_prints_a1111_parameters(tmp_path: Path) -> None:
    invoke("generate", "a green star at night", "--seed", "7", "-o", str(tmp_path))
    result = invoke("info", str(tmp_path / "00001-7.png"))
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "a green star at night"
    assert "Seed: 7" in result.output


def test_from_image_regenerates_identical_pixels(tmp_path: Path, tiny_sd_dir: Path) -> None:
    first = tmp_path / "first"
    again = tmp_path / "again"
    invoke(
        "generate",
        "a (red:1.2) circle",
        "-m",
        str(tiny_sd_dir),
        "--steps",
        "2",
        "--seed",
        "3",
        "-b",
        "2",
        "-o",
        str(first),
    )
    source = first / "00002-4.png"
    result = invoke("generate", "--from", str(source), "-o", str(again))
    assert result.exit_code == 0, result.output
    produced = again / "00001-4.png"
    assert np.array_equal(np.asarray(Image.open(source)), np.asarray(Image.open(produced)))


def test_from_image_flags_override_stored_values(tmp_path: Path) -> None:
    invoke("generate", "a blue heart", "--seed", "9", "-o", str(tmp_path))
    result = invoke(
        "generate", "--from", str(tmp_path / "00001-9.png"), "--seed", "10", "-o", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "00002-10.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a circle", "--width", "100"], "width=100 is invalid"),
        (["a circle", "--steps", "0"], "steps=0 is invalid"),
        (["a circle", "--steps", "100000"], "steps=100000 is invalid"),
        (["a circle", "--cfg", "-1"], "guidance_scale=-1.0 is invalid"),
        (["a circle", "--sampler", "Foo"], "valid: Euler, Euler a"),
        (["a circle", "--model", "no/such/folder"], "no/such/folder"),
        (["a circle", "--seed", "-5"], "seed=-5 is invalid"),
        ([], "a PROMPT is needed"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_no_file(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", *args, "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_info_on_a_file_that_is_not_an_image_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    result = runner.invoke(app, ["info", str(fake)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("image_format", ["jpg", "webp"])
def test_jpeg_and_webp_carry_the_same_parameters(tmp_path: Path, image_format: str) -> None:
    result = invoke(
        "generate", "a pink heart", "--seed", "2", "--format", image_format, "-o", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / f"00001-2.{image_format}"
    info = invoke("info", str(path))
    assert info.output.startswith(
        "a pink heart\nSteps: 1, Sampler: procedural, Seed: 2, Size: 256x256"
    )
    again = invoke("generate", "--from", str(path), "-o", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
