"""`genlab models` and `genlab samplers`."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from genlab.cli.main import app

runner = CliRunner()


def test_models_lists_procedural_and_local_pipelines(
    tmp_path: Path, tiny_sd_dir: Path, monkeypatch
):
    models = tmp_path / "models"
    shutil.copytree(tiny_sd_dir, models / "my-sd")
    (models / "v1.ckpt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("GENLAB_MODELS", raising=False)
    result = runner.invoke(app, ["models"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "procedural" in result.output
    assert "models/my-sd" in result.output and "StableDiffusionPipeline" in result.output
    assert "pickle (--allow-pickle)" in result.output


def test_samplers_without_a_model_lists_a1111_names() -> None:
    result = runner.invoke(app, ["samplers"], terminal_width=200)
    assert result.exit_code == 0
    assert "DPM++ 2M SDE" in result.output and "SGM Uniform" in result.output


def test_samplers_for_a_model_and_for_the_procedural_engine(tiny_sd_dir: Path) -> None:
    result = runner.invoke(app, ["samplers", "--model", str(tiny_sd_dir)], terminal_width=200)
    assert result.exit_code == 0
    assert "Euler a" in result.output
    result = runner.invoke(app, ["samplers", "--model", "procedural"], terminal_width=200)
    assert "has no samplers" in result.output


def test_samplers_for_a_missing_model_is_one_line() -> None:
    result = runner.invoke(app, ["samplers", "--model", "no/such/dir"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
