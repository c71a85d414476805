"""`genlab train gan` and `genlab gan walk` through the CLI: real tiny runs, and bad
input answered in one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from genlab.cli.main import app
from genlab.engines.gan_net import GanConfig, Generator, save_generator
from genlab.world.dataset import export

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def gan_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = GanConfig(resolution=16, channels=(32, 16, 8), vocab=("a", "red", "star"))
    folder = tmp_path_factory.mktemp("gan")
    save_generator(Generator(config), folder)
    return folder


def test_train_gan_writes_a_model_the_generate_command_runs(tmp_path):
    data = export(tmp_path / "data", 22, 64, seed=2)
    out = tmp_path / "my-gan"
    args = ("train", "gan", "--data", str(data), "--out", str(out), "--steps", "2")
    more = ("--batch-size", "2", "--holdout", "16", "--watch-every", "2", "--sample-every", "2")
    result = invoke(*args, *more)
    assert result.exit_code == 0, result.output
    assert "diversity" in result.output and "recall" in result.output
    assert (out / "model.safetensors").is_file() and (out / "samples" / "step-000002.png").is_file()
    again = invoke(*args, *more)  # finished: resumes at the end, trains nothing more
    assert again.exit_code == 0 and "resumed from step 2" in again.output
    training = json.loads((out / "training.json").read_text())
    assert set(training["watch"]) == {"diversity", "precision", "recall"}  # kept on re-save
    made = invoke("generate", "a red star", "--model", str(out), "--seed", "3", "-o", str(tmp_path))
    assert made.exit_code == 0, made.output
    assert "do not apply" in made.output
    assert Image.open(tmp_path / "00001-3.png").size == (64, 64)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--augment", "colour"), "augment 'colour'"),
        (("--steps", "0"), "steps must be a positive integer"),
        (("--holdout", "3"), "holdout must be at least 16"),
    ],
)
def test_train_gan_bad_settings_are_one_line(tmp_path, args, message):
    result = invoke("train", "gan", "--data", str(tmp_path), "--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_train_gan_on_a_missing_folder_is_one_line(tmp_path):
    result = invoke("train", "gan", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "is not a folder" in result.output


def test_walk_writes_frames_and_an_animation(gan_dir, tmp_path):
    out = tmp_path / "walk"
    args = ("gan", "walk", "a red star", "--from", "1", "--to", "2", "--frames", "5")
    result = invoke(*args, "--model", str(gan_dir), "--out", str(out), "--to-prompt", "a red zebra")
    assert result.exit_code == 0, result.output
    assert "zebra" in result.output  # the unknown word is named
    assert sorted(p.name for p in out.glob("frame-*.png"))[-1] == "frame-004.png"
    animation = Image.open(out / "walk.webp")
    assert animation.n_frames == 5 and animation.size == (16, 16)
    gif = invoke(*args, "--model", str(gan_dir), "--out", str(tmp_path / "g"), "--format", "gif")
    assert gif.exit_code == 0 and Image.open(tmp_path / "g" / "walk.gif").n_frames == 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--frames", "1"), "frames"),
        (("--truncation", "0"), "truncation"),
        (("--truncation", "1.2"), "truncation"),
        (("--format", "mp4"), "format"),
        (("--model", "procedural"), "need a GAN model"),
    ],
)
def test_walk_bad_input_is_one_line(gan_dir, tmp_path, extra, message):
    base = ("gan", "walk", "a red star", "--from", "1", "--to", "2", "--model", str(gan_dir))
    result = invoke(*base, "--out", str(tmp_path / "w"), *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_generate_truncation_outside_range_or_engine_is_one_line(tmp_path):
    result = invoke("generate", "a red star", "--truncation", "0", "-o", str(tmp_path))
    assert result.exit_code == 2 and "truncation" in result.output
    result = invoke("generate", "a red star", "--truncation", "0.5", "-o", str(tmp_path))
    assert result.exit_code == 2 and "applies to GAN models only" in result.output
