"""Every example in the README runs, in order, as a new user would type it.

The examples run in a fresh folder prepared with what they refer to: a diffusers
pipeline folder under ./models (the tiny real one, since nothing is downloaded in
tests), a photo and a mask for img2img/inpainting, a LoRA file and a wildcard file.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
        if command.startswith("genlab serve"):
            continue  # a server runs until stopped: test_readme_serve_commands_serve
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_readme_serve_commands_serve(tmp_path: Path) -> None:
    """Each `genlab serve` example starts a server that answers on loopback (the port
    is the only change: a free one instead of 7860)."""
    commands = [c for c in genlab_commands() if c.startswith("genlab serve")]
    assert commands
    genlab = Path(sys.executable).parent / "genlab"
    for command in commands:
        port = free_port()
        args = [str(genlab), *shlex.split(command)[1:], "--port", str(port)]
        server = subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            status = wait_for_answer(f"http://127.0.0.1:{port}/api/samplers", server)
        finally:
            server.terminate()
            output = server.communicate(timeout=30)[0]
        # With --token the API refuses a request without it; without, it answers.
        assert status == (401 if "--token" in command else 200), output
        if "--token auto" in command:
            assert "token" in output.lower(), output


def wait_for_answer(url: str, server: subprocess.Popen, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"no answer from {url} in {timeout:.0f} s")
