"""`genlab generate` with hires fix, tiling, clip skip and A1111's prompt language."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from genlab.cli.main import app
from genlab.core.metadata import parse_parameters, read_metadata

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_hires_tiling_clip_skip_and_prompt_editing_end_to_end(tmp_path, tiny_sd_dir) -> None:
    result = invoke(
        *("generate", "a [red|blue] circle AND a star:0.5", "-m", str(tiny_sd_dir)),
        *("--steps", "2", "-W", "16", "-H", "16", "--seed", "4", "--clip-skip", "2"),
        *("--tiling", "--hires-scale", "1.5", "--hires-upscaler", "lanczos"),
        *("--hires-steps", "2", "--hires-denoise", "0.5", "-o", str(tmp_path)),
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "00001-4.png"
    meta = read_metadata(path)
    params = parse_parameters(meta.parameters)
    assert params.prompt == "a [red|blue] circle AND a star:0.5"
    assert params.params["Size"] == "16x16"  # the first pass, as A1111 writes it
    expected = {"Hires upscale": "1.5", "Hires upscaler": "Lanczos", "Hires steps": "2"}
    assert {k: params.params[k] for k in expected} == expected
    assert params.params["Denoising strength"] == "0.5" and params.params["Clip skip"] == "2"
    assert params.params["Tiling"] == "True"
    from PIL import Image

    assert Image.open(path).size == (24, 24)
    # --from reads every new field back
    again = invoke("generate", "--from", str(path), "-o", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    copy = read_metadata(tmp_path / "again" / "00001-4.png")
    assert copy.record["request"] == meta.record["request"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--hires-upscaler", "Lanczos"], "applies only with hires fix"),
        (["--hires-scale", "2", "--hires-upscaler", "R-ESRGAN"], "unknown hires upscaler"),
        (["--hires-scale", "1e300"], "hires_scale"),
        (["--clip-skip", "0"], "clip_skip"),
        (["--tiling"], "hires fix and tiling need a diffusion model"),
        (["--sampler", "plms", "--steps", "1", "--hires-scale", "2"], "need a diffusion model"),
    ],
)
def test_bad_flags_are_one_line_errors(tmp_path: Path, flags: list[str], message: str) -> None:
    result = runner.invoke(app, ["generate", "a red circle", *flags, "-o", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_procedural_reads_editing_as_its_final_text(tmp_path: Path) -> None:
    result = invoke(
        "generate", "[a red circle:a blue square:0.5] 0.3", "--seed", "1", "-o", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert "final text" in result.output
    params = parse_parameters(read_metadata(tmp_path / "00001-1.png").parameters).params
    assert (params["Steps"], params["Sampler"]) == ("1", "procedural")
    assert "Prompt reading" in params
