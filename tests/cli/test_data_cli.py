"""`genlab data audit|augment`: what a user sees, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genlab.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from genlab.world.dataset import export

    return export(tmp_path_factory.mktemp("cli") / "set", 12, 16)


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def refused(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], lines


def test_audit_writes_the_report_and_prints_the_figures(folder, tmp_path):
    result = invoke("data", "audit", folder, "--out", tmp_path / "rep", "--no-features")
    assert result.exit_code == 0, result.output
    assert "12 images audited" in result.stdout and "colour+shape" in result.stdout
    data = json.loads((tmp_path / "rep/audit.json").read_text())
    assert data["images"] == 12 and data["target"] == "uniform"
    assert (tmp_path / "rep/audit.html").read_text().startswith("<!doctype html>")


def test_augment_dry_run_prints_the_plan_and_writes_nothing(folder, tmp_path):
    result = invoke("data", "augment", folder, "--out", tmp_path / "aug", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "plan over colour, shape:" in result.stdout
    assert not (tmp_path / "aug").exists()


def test_augment_writes_the_planned_images(folder, tmp_path):
    result = invoke("data", "augment", folder, "--out", tmp_path / "aug", "--by", "size")
    assert result.exit_code == 0, result.output
    planned = int(result.stdout.split("plan over size: ")[1].split()[0])
    assert len(list((tmp_path / "aug/images").glob("*.png"))) == planned


def test_bad_input_is_one_line(folder, tmp_path):
    refused(
        invoke("data", "audit", tmp_path / "absent", "--out", tmp_path / "r"), "is not a folder"
    )
    refused(invoke("data", "audit", folder, "--out", folder / "metadata.jsonl"), "--out")
    refused(
        invoke("data", "audit", folder, "--distance", 40, "--out", tmp_path / "r"), "--distance"
    )
    refused(invoke("data", "augment", folder, "--by", "mood", "--dry-run"), "--by")
    refused(invoke("data", "augment", folder, "--to", tmp_path / "nope", "--dry-run"), "--to")
    refused(
        invoke("data", "augment", folder, "--engine", "nope-model", "--out", tmp_path / "x"), "nope"
    )
