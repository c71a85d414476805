from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from genlab.cli.upscale import eval_sr, train_sr, upscale
from genlab.core.imageio import read_metadata

app = typer.Typer()
app.command("upscale")(upscale)
app.command("eval-sr")(eval_sr)
app.command("train-sr")(train_sr)
runner = CliRunner()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "small.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 32, 4), dtype=np.uint8), "RGBA").save(path)
    return path


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("model", ["espcn", "bicubic", "lanczos"])
def test_upscale_saves_with_metadata_and_alpha(tmp_path, photo, model):
    out = tmp_path / "out"
    result = runner.invoke(app, ["upscale", str(photo), "--model", model, "--out", str(out)])
    assert result.exit_code == 0, result.output
    (saved,) = out.iterdir()
    image = Image.open(saved)
    assert image.size == (64, 48) and image.mode == "RGBA"
    record = read_metadata(saved).record
    assert record["tool"] == "upscale"
    assert record["params"] == {"scale": 2, "upscaler": record["params"]["upscaler"], "tile": 256}
    assert model in record["params"]["upscaler"]


@pytest.mark.parametrize("model", ["espcn", "lanczos"])
def test_upscale_x4_with_tiles(tmp_path, photo, model):
    out = tmp_path / "big.png"
    args = ["upscale", str(photo), "-m", model, "-s", "4", "--tile", "8", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (128, 96)


def test_bad_inputs_exit_2_without_output(tmp_path, photo):
    out = tmp_path / "out"
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    not_model = tmp_path / "random.safetensors"
    save_file({"a": torch.zeros(3)}, str(not_model))
    pickle = tmp_path / "model.pth"
    torch.save({"a": torch.zeros(3)}, pickle)
    cases = [
        (["upscale", str(corrupt)], ["corrupt.png"]),
        (["upscale", str(tmp_path / "missing.png")], ["does not exist"]),
        (["upscale", str(photo), "--scale", "3"], ["scale=3", "2 or 4"]),
        (["upscale", str(photo), "-m", str(not_model)], ["spandrel"]),
        (["upscale", str(photo), "-m", str(pickle)], ["--allow-pickle"]),
        (["upscale", str(photo), "-m", "nearest"], ["bicubic, lanczos, espcn"]),
        (["upscale", str(photo), "--tile", "-1"], ["tile=-1"]),
        (["eval-sr", "--scale", "8"], ["scale=8"]),
        (["train-sr", "--out", str(tmp_path / "run"), "--steps", "0"], ["steps=0"]),
    ]
    for args, needles in cases:
        if args[0] == "upscale":
            args = [*args, "--out", str(out)]
        one_line_error(runner.invoke(app, args), *needles)
    assert not out.exists()
    assert not (tmp_path / "run").exists()


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    path = tmp_path / "bomb.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # 4096 px is then a "bomb"
    one_line_error(runner.invoke(app, ["upscale", str(path), "-o", str(tmp_path / "o")]), "bomb")


def test_eval_sr_json_lanczos():
    result = runner.invoke(app, ["eval-sr", "--model", "lanczos", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    photos = [row["photo"] for row in report["photos"]]
    assert photos == ["astronaut", "coffee", "chelsea", "rocket", "mean"]
    mean = report["photos"][-1]
    # Lanczos is sharper than Pillow's bicubic (a = -0.5) and scores higher on photos.
    assert mean["gain_db"] > 0 and 25 < mean["bicubic_psnr"] < 40


def test_train_sr_cli_runs_and_resumes(tmp_path):
    out = tmp_path / "run"
    base = ["train-sr", "--out", str(out), "--batch-size", "2", "--patch", "8"]
    first = runner.invoke(app, [*base, "--steps", "2"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*base, "--steps", "3"])
    assert second.exit_code == 0, second.output
    assert "resumed from step 2" in second.output
    assert (out / "espcn-x2.safetensors").exists() and (out / "espcn-x2.json").exists()


@pytest.mark.parametrize("mode", ["L", "I;16", "P"])
def test_other_modes_are_converted(tmp_path, mode):
    path = tmp_path / f"input-{mode.replace(';', '')}.png"
    grey = np.random.default_rng(2).integers(0, 256, (16, 20), dtype=np.uint8)
    if mode == "I;16":
        Image.fromarray(grey.astype(np.uint16) * 257).save(path)
    else:
        Image.fromarray(grey, "L").convert(mode).save(path)
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["upscale", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (40, 32) and Image.open(out).mode == "RGB"
