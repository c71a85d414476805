"""`genlab generate` with A1111's mask options, on the shipped model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from genlab.cli.main import app
from genlab.core.metadata import parse_parameters, read_metadata

BLUE = (20, 40, 200)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_mask_flags_reach_the_image_and_its_metadata(tmp_path: Path) -> None:
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), BLUE).save(init)
    m = Image.new("L", (64, 64), 0)
    m.paste(255, (0, 0, 32, 64))
    m.save(mask)
    flags = ["--init-image", str(init), "--mask", str(mask), "--strength", "1"]
    result = invoke(
        "generate", "a large yellow star", "-m", "builtin", "--seed", "3", "--steps", "4",
        *flags, "--invert-mask", "--mask-blur", "2", "--inpaint-fill", "latent nothing",
        "--inpaint-only-masked", "--inpaint-padding", "8", "-o", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = tmp_path / "out" / "00001-3.png"
    out = np.asarray(Image.open(written).convert("RGB"), np.int16)
    assert (out[:, :16] == BLUE).all() and np.abs(out[:, 40:] - BLUE).mean() > 10
    params = parse_parameters(read_metadata(written).parameters).params
    assert params["Mask mode"] == "Inpaint not masked" and params["Mask blur"] == "2"
    assert params["Masked content"] == "latent nothing"
    assert params["Inpaint area"] == "Only masked" and params["Masked area padding"] == "8"


def test_a_mask_flag_without_a_mask_is_one_line_exit_2(tmp_path: Path) -> None:
    result = invoke("generate", "a red circle", "--inpaint-fill", "fill", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert "inpaint_fill" in result.output and "only with a mask" in result.output
    bad = invoke("generate", "a red circle", "--mask-blur", "-3", "-o", str(tmp_path))
    assert bad.exit_code == 2 and "mask_blur" in bad.output
