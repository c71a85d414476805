"""`genlab report RUN` through typer, on a real procedural sweep."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from genlab.cli.report import report
from genlab.lab.runner import run_sweep
from genlab.lab.sweep import definition_from

runner = CliRunner()


def invoke(*args: str):
    app = typer.Typer()
    app.command("report")(report)
    app.command("other")(lambda: None)  # two commands, so "report" is a subcommand as in genlab
    return runner.invoke(app, ["report", *args])


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    fields = {"prompt": "a red circle & <b>friends</b>", "width": 64, "height": 64, "seed": 3}
    run_sweep(definition_from(fields, {"x": "seed=1,2", "y": "guidance_scale=3,7"}), out)
    return out


def test_report_writes_the_file_and_prints_its_path(out: Path) -> None:
    result = invoke("last", "--out", str(out))
    assert result.exit_code == 0, result.output
    path = out / "sweep-0001" / "report.html"
    assert result.stdout.strip().splitlines()[-1] == str(path)
    page = path.read_text(encoding="utf-8")
    assert "a red circle &amp; &lt;b&gt;friends&lt;/b&gt;" in page
    assert page.count('<figure class="sheet"') == 1
    assert "has no metrics yet" in result.stderr


def test_out_names_the_file_and_db_the_store(out: Path, tmp_path: Path) -> None:
    target = tmp_path / "reports" / "run1.html"
    result = invoke("1", "--db", str(out / "genlab-runs.sqlite"), "--report", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["9"], "error: no run 9 in "),
        (["first"], "error: RUN='first' is invalid: a run id"),
        (["1", "--extractor", "vgg"], "error: extractor='vgg' is invalid: must be one of shapes"),
    ],
)
def test_bad_input_is_a_one_line_error(out: Path, args: list[str], message: str) -> None:
    result = invoke(*args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert len(result.output.strip().splitlines()) == 1


def test_a_folder_without_runs_is_a_one_line_error(tmp_path: Path) -> None:
    result = invoke("1", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no runs recorded: ")
    assert not list(tmp_path.iterdir())
