"""Every example in the README runs, in order, as a new user would type it.

The examples run in a fresh folder prepared with what they refer to: a diffusers
pipeline folder under ./models (the tiny real one, since nothing is downloaded in
tests), a photo and a mask for img2img/inpainting, a LoRA file and a wildcard file.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genlab.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def genlab_commands() -> list[str]:
    lines = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("genlab "):
                lines.append(command)
    return lines


@pytest.fixture
def readme_folder(tmp_path: Path, tiny_sd_dir: Path, tiny_inpaint_dir: Path, monkeypatch):
    from PIL import Image

    from tests.lora_file import write_tiny_lora

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GENLAB_WILDCARDS", raising=False)
    models = tmp_path / "models"
    shutil.copytree(tiny_sd_dir, models / "my-sd")
    shutil.copytree(tiny_inpaint_dir, models / "my-sd-inpainting")
    write_tiny_lora(models / "my-sd", models / "style-lora.safetensors")
    Image.new("RGB", (64, 64), (200, 120, 40)).save(tmp_path / "photo.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    mask.save(tmp_path / "mask.png")
    (tmp_path / "wildcards").mkdir()
    (tmp_path / "wildcards" / "shape.txt").write_text("star\nheart\n# a comment\nhexagon\n")
    return tmp_path


def test_readme_has_examples() -> None:
    assert len(genlab_commands()) >= 10


def test_every_readme_command_runs(readme_folder: Path) -> None:
    runner = CliRunner()
    for command in genlab_commands():
        result = runner.invoke(app, shlex.split(command)[1:])
        assert result.exit_code == 0, f"{command}\n{result.output}"
    assert (readme_folder / "outputs" / "00001-42.png").exists()
    assert (readme_folder / "outputs" / "again" / "00001-42.png").exists()


def test_readme_python_example_runs(readme_folder: Path) -> None:
    (block,) = code_blocks("python")
    out = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, cwd=readme_folder
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 2) ['00001-1.png', '00002-2.png']"


def test_make_run_command_runs(readme_folder: Path) -> None:
    """`make run` ends in a genlab command; run that same command here."""
    makefile = (ROOT / "Makefile").read_text()
    prompt = re.search(r"^PROMPT \?= (.+)$", makefile, flags=re.M).group(1)
    recipe = re.search(r"^run: .*\n\t\$\(BIN\)/(genlab .+)$", makefile, flags=re.M).group(1)
    command = recipe.replace("$(PROMPT)", prompt)
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (readme_folder / "outputs").iterdir())
    assert names == [
        "00001-42.png",
        "00002-43.png",
        "00003-44.png",
        "00004-45.png",
        "grid-0001.png",
    ]
