"""Dataset export: balanced, held-out combinations absent, resumable, readable."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genlab.cli.main import app
from genlab.world.dataset import (
    HELD_OUT_PAIRS,
    allowed_kinds,
    export,
    held_out_parts,
    training_scenes,
)
from genlab.world.scene import Scene
from genlab.world.vocab import RELATIONS


def rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]


def test_training_scenes_cover_every_allowed_kind_and_relation_evenly() -> None:
    kinds = allowed_kinds()
    scenes = list(training_scenes(2 * len(kinds), seed=3))
    firsts = Counter((s.objects[0].shape, s.objects[0].colour, s.objects[0].size) for s in scenes)
    assert set(firsts) == set(kinds)
    assert max(firsts.values()) - min(firsts.values()) <= 2
    relations = Counter(r.relation for s in scenes for r in s.relations)
    assert set(relations) == set(RELATIONS)
    assert Counter(len(s.objects) for s in scenes).keys() == {1, 2, 3}


def test_held_out_combinations_never_appear() -> None:
    for scene in training_scenes(3000, seed=0):
        assert held_out_parts(scene) == []
        assert all((o.colour, o.shape) not in HELD_OUT_PAIRS for o in scene.objects)


def test_held_out_parts_reads_relations_in_either_direction() -> None:
    scene = Scene.from_dict(
        {
            "objects": [
                {"shape": "square", "colour": "red", "size": "small", "x": 0.5, "y": 0.8},
                {"shape": "circle", "colour": "red", "size": "small", "x": 0.5, "y": 0.2},
            ],
            "relations": [{"subject_index": 0, "relation": "below", "object_index": 1}],
            "background": "white",
            "lighting": "noon",
            "style": "flat",
        }
    )
    assert held_out_parts(scene) == ["circle above square"]


def test_export_writes_an_imagefolder_and_resumes_after_interruption(tmp_path: Path) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    export(whole, 30, 32, seed=1)
    export(cut, 30, 32, seed=1)
    # Simulate a kill: 12 complete rows, a torn 13th, a stray image beyond.
    lines = (cut / "metadata.jsonl").read_text().splitlines(keepends=True)
    (cut / "metadata.jsonl").write_text("".join(lines[:12]) + lines[12][:20])
    export(cut, 30, 32, seed=1)
    assert rows(cut) == rows(whole)
    for row in rows(whole):
        assert (cut / row["file_name"]).read_bytes() == (whole / row["file_name"]).read_bytes()
        assert Scene.from_dict(row["scene"]) is not None and row["text"]
    assert json.loads((whole / "split.json").read_text())["n"] == 30


def test_export_is_readable_by_datasets_imagefolder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    export(tmp_path, 6, 16)
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path), split="train")
    assert len(loaded) == 6 and "text" in loaded.column_names


def test_cli_dataset_and_its_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["world", "dataset", "--n", "5", "--size", "16", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert len(rows(tmp_path)) == 5
    bad = runner.invoke(
        app, ["world", "dataset", "--n", "5", "--size", "12", "-o", str(tmp_path / "b")]
    )
    assert bad.exit_code == 2 and "size=12 is invalid" in bad.output
    assert not (tmp_path / "b").exists()
