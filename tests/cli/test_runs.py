"""`genlab runs list|show|compare` on runs made by the real sweep command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from genlab.cli.runs import app as runs_app
from genlab.cli.sweep import sweep

runner = CliRunner()
SMALL = ["-W", "64", "-H", "64", "--seed", "10"]


def invoke(*args: str):
    app = typer.Typer()
    app.command("sweep")(sweep)
    app.add_typer(runs_app, name="runs")
    return runner.invoke(app, list(args))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    for axes in (["--x", "seed=1,2"], ["--x", "seed=1-3", "--y", "sr=red,blue"]):
        result = invoke("sweep", "a red circle", *axes, *SMALL, "-o", str(out))
        assert result.exit_code == 0, result.output
    return out


def test_list_shows_one_line_per_run(out: Path) -> None:
    result = invoke("runs", "list", "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:3] == ["1", "finished", "2/2"]
    assert lines[1].split()[:3] == ["2", "finished", "6/6"]
    assert lines[1].endswith("'a red circle'  X: seed=1-3  Y: sr=red,blue")


def test_show_lists_settings_cells_and_timings(out: Path) -> None:
    result = invoke("runs", "show", "last", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("run 2  finished  6/6 cells\n")
    assert f"folder: {out / 'sweep-0002'}" in result.output
    assert "axis Y: sr=red,blue" in result.output
    assert "x=3, y=blue  seed=3  " in result.output
    assert str(out / "sweep-0002" / "00005-3.png") in result.output
    assert "6 cells, " in result.output and "generate per image: mean " in result.output


def test_compare_names_what_differs_and_both_timings(out: Path) -> None:
    result = invoke("runs", "compare", "1", "2", "--db", str(out / "genlab-runs.sqlite"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        "run 1 vs run 2",
        "axis X: 'seed=1,2' | 'seed=1-3'",
        "axis Y: (not set) | 'sr=red,blue'",
    ]
    assert lines[3].startswith("run 1: 2 cells, ") and lines[4].startswith("run 2: 6 cells, ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "9"], "error: no run 9 in "),
        (["show", "first"], "error: RUN='first' is invalid: a run id"),
        (["compare", "1", "7"], "error: no run 7 in "),
    ],
)
def test_unknown_runs_are_one_line_errors(out: Path, args: list[str], message: str) -> None:
    result = invoke("runs", *args, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1


def test_a_folder_without_runs_is_a_one_line_error(tmp_path: Path) -> None:
    result = invoke("runs", "list", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.startswith("error: no runs recorded: ")
    assert not (tmp_path / "genlab-runs.sqlite").exists()  # looking creates nothing
