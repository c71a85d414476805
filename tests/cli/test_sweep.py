"""`genlab sweep` through typer, and a run killed with SIGKILL in a real process."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from genlab.cli.runs import app as runs_app
from genlab.cli.sweep import sweep
from genlab.lab.records import DB_NAME, open_store
from genlab.lab.runner import file_sha256

runner = CliRunner()
PROMPT = "a red circle, at night"
SMALL = ["-W", "64", "-H", "64", "--seed", "10"]


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("sweep")(sweep)
    app.add_typer(runs_app, name="runs")
    return app


def invoke(*args: str):
    return runner.invoke(cli(), list(args))


def test_dry_run_prints_every_cell_and_the_count_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(
        "sweep",
        PROMPT,
        "--x",
        "seed=1-3",
        "--y",
        "sr=red,blue",
        *SMALL,
        "-o",
        str(out),
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "    0  x=1, y=red  seed=1  prompt='a red circle, at night'"
    assert lines[5] == "    5  x=3, y=blue  seed=3  prompt='a blue circle, at night'"
    assert lines[6] == "6 images in 2 model calls (X: seed × 3, Y: Prompt S/R × 2)"
    assert not out.exists()


def test_dry_run_says_when_the_seed_is_still_random(tmp_path: Path) -> None:
    result = invoke("sweep", PROMPT, "--x", "steps=5,9", "-o", str(tmp_path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "    0  x=5  steps=5\n" in result.output
    assert result.output.endswith("one random seed is chosen for the whole sweep when it starts\n")


def test_a_sweep_writes_images_a_contact_sheet_and_a_record(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("sweep", PROMPT, "--x", "seed=1,2", "--y", "steps=5,9", *SMALL, "-o", str(out))
    assert result.exit_code == 0, result.output
    folder = out / "sweep-0001"
    assert f"4 images in {folder} (4 new); run 1 in {out / DB_NAME}" in result.output
    assert f"{folder / 'sheet.png'}  (contact sheet)" in result.output
    assert len(list(folder.glob("0*.png"))) == 4
    again = invoke("sweep", PROMPT, "--x", "seed=1,2", "--y", "steps=5,9", *SMALL, "-o", str(out))
    assert "(0 new, 4 from an earlier run)" in again.output


def test_a_sweep_file_runs_as_the_same_flags(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(
        f'prompt = "{PROMPT}"\nwidth = 64\nheight = 64\nseed = 10\n'
        'x = { axis = "seed", values = [1, 2] }\ny = "descriptors=style"\n'
    )
    flags = ["--x", "seed=1,2", "--y", "descriptors=style"]
    out = tmp_path / "out"
    planned_file = invoke("sweep", "--file", str(path), "-o", str(out), "--dry-run")
    planned_flags = invoke("sweep", PROMPT, *flags, *SMALL, "-o", str(out), "--dry-run")
    assert planned_file.exit_code == 0, planned_file.output
    assert planned_file.output == planned_flags.output
    invoke("sweep", "--file", str(path), "-o", str(out))
    resumed = invoke("sweep", PROMPT, *flags, *SMALL, "-o", str(out))
    assert "(0 new, " in resumed.output and "from an earlier run); run 1 in" in resumed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--x", "cfg=1,2"], "error: axis X: unknown field 'cfg'; allowed: seed, guidance_scale"),
        (["--y", "steps=5,abc"], "error: axis Y: steps='abc' is invalid: must be an integer"),
        (["--x", "seed=1-300"], "error: the sweep makes 300 images, over the budget of 256;"),
        (
            ["--x", "seed=1-3", "--budget", "2"],
            "error: the sweep makes 3 images, over the budget of 2; confirm with --yes",
        ),
        (["--x", "descriptors=weather"], "error: axis X: unknown descriptor set 'weather'"),
        (["--file", "missing.toml"], "error: No such file or directory: missing.toml"),
        (["--x", "seed=1", "--format", "gif"], "error: format='gif' is invalid"),
    ],
)
def test_mistakes_are_one_line_exit_2_and_make_nothing(tmp_path: Path, args, message) -> None:
    out = tmp_path / "out"
    prompt = [] if args[0] == "--file" else [PROMPT]
    result = invoke("sweep", *prompt, *args, *SMALL, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert not list(out.glob("sweep-*/*.png"))


def test_yes_runs_a_sweep_over_the_budget(tmp_path: Path) -> None:
    args = ["--x", "seed=1-3", "--budget", "2", "--yes", *SMALL, "-o", str(tmp_path)]
    result = invoke("sweep", PROMPT, *args)
    assert result.exit_code == 0, result.output
    assert "3 images in" in result.output


# The engine is slowed down inside the child so the kill lands mid-run on any machine;
# the run itself is the real CLI command.
CHILD = textwrap.dedent(
    """
    import sys, time
    import typer
    from genlab.engines.procedural import ProceduralEngine
    from genlab.cli.sweep import sweep

    real = ProceduralEngine.generate

    def slow(self, request, *, on_step=None):
        time.sleep(0.25)
        return real(self, request, on_step=on_step)

    ProceduralEngine.generate = slow
    app = typer.Typer()
    app.command()(sweep)
    app(sys.argv[1:])
    """
)


def test_records_survive_a_run_killed_mid_way(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Odd seeds are not consecutive: one model call, and one commit, per cell.
    args = [PROMPT, "--x", "seed=1,3,5,7,9,11,13,15,17,19", *SMALL, "-o", str(out)]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("sweep-0001/0*.png"))) < 2:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the sweep never started writing"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    with open_store(out / DB_NAME) as store:
        (run,) = store.list_runs()
        cells = store.cells(run.id)
    assert run.status == "running"  # never finished: nothing ran after the kill
    assert 1 <= len(cells) < 10
    for cell in cells:
        assert file_sha256(cell.image_path) == cell.image_sha256
    on_disk = list(out.glob("sweep-0001/0*.png"))
    assert len(on_disk) - len(cells) <= 1  # at most the cell in flight is not recorded

    result = invoke(*["sweep", *args])
    assert result.exit_code == 0, result.output
    assert f"({10 - len(cells)} new, {len(cells)} from an earlier run); run 1" in result.output
    assert len(list(out.glob("sweep-0001/0*.png"))) == 10
    with open_store(out / DB_NAME) as store:
        assert store.get_run(1).cells_done == 10
