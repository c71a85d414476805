"""`genlab style` end to end through typer: output file, metadata, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from genlab.cli.style import style
from genlab.core.imageio import read_metadata
from genlab.core.metadata import parse_parameters

app = typer.Typer()
app.command("style")(style)
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_cached_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def images(folder: Path, size: int = 32) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    content, style_path = folder / "photo.png", folder / "texture.png"
    yy, xx = np.mgrid[0:size, 0:size]
    grad = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 128)], -1)
    Image.fromarray(grad.astype(np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(style_path)
    return content, style_path


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_style_writes_an_image_with_metadata_and_names_the_fallback(tmp_path: Path) -> None:
    content, style_path = images(tmp_path)
    out = tmp_path / "out"
    frames = tmp_path / "frames"
    result = invoke(
        str(content), str(style_path), "--size", "32", "--scales", "2", "--iterations", "2",
        "--coarse-iterations", "2", "--seed", "3", "--preserve-colours", "--strength", "0.5",
        "--frames", str(frames), "--frame-every", "2", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (saved,) = out.iterdir()
    assert saved.name == "photo-style.png"
    assert Image.open(saved).size == (32, 32)
    params = parse_parameters(read_metadata(saved).parameters).params
    assert params["Postprocess tool"] == "style"
    assert params["Postprocess features"] == "vgg19-random-fallback"
    assert params["Postprocess seed"] == "3"
    assert params["Postprocess preserve colours"] == "True"
    assert params["Postprocess style image"] == "texture.png"
    assert sorted(p.name for p in frames.iterdir()) == ["frame-00002.png", "frame-00004.png"]
    warnings = [line for line in result.output.splitlines() if "random-filter fallback" in line]
    assert len(warnings) == 1 and "vgg19-dcbb9e9d.pth" in warnings[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--size", "8"), "size=8 is invalid: must be at least 16 px for relu5_1"),
        (("--scales", "4", "--size", "32"), "at most 2 scale"),
        (("--strength", "2"), "strength=2.0"),
        (("--optimizer", "sgd"), "must be lbfgs or adam"),
    ],
)
def test_bad_options_fail_in_one_line_without_output(
    tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    content, style_path = images(tmp_path)
    out = tmp_path / "out"
    result = invoke(str(content), str(style_path), "--out", str(out), *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_unreadable_inputs_and_weights_fail_in_one_line(tmp_path: Path) -> None:
    content, style_path = images(tmp_path)
    small = tmp_path / "small.png"
    Image.new("RGB", (10, 10)).save(small)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(b"not torch")
    out = tmp_path / "out"
    cases = [
        ((str(small), str(style_path)), "content image is 10x10 px"),
        ((str(content), str(corrupt)), "style image"),
        ((str(content), str(style_path), "--weights", str(weights)), "cannot be read"),
    ]
    for args, message in cases:
        result = invoke(*args, "--size", "32", "--scales", "1", "--out", str(out))
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert result.output.startswith("error:")
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1
        assert not out.exists()
