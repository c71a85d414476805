from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from genlab.data.audit import audit
from genlab.data.folder import DataError, read_folder
from genlab.data.report import write


def copy_folder(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_scene_rows_give_exact_distributions(shapes_folder):
    rows = [
        json.loads(line) for line in (shapes_folder / "metadata.jsonl").read_text().splitlines()
    ]
    objects = [o for r in rows for o in r["scene"]["objects"]]
    result = audit(shapes_folder, features=False)
    assert result.images == 24 and result.problems == []
    assert result.sources == {"scene": 24}
    shapes = result.attributes["shape"]["counts"]
    assert sum(shapes.values()) == len(objects)
    assert shapes["circle"] == sum(o["shape"] == "circle" for o in objects)
    # The export holds some colour-shape pairs out: they show up as missing.
    assert "red triangle" in result.attributes["colour+shape"]["imbalance"]["missing"]


def test_captions_alone_give_the_same_distribution(shapes_folder, tmp_path):
    folder = copy_folder(shapes_folder, tmp_path / "captions")
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    lines = [json.dumps({"file_name": r["file_name"], "text": r["text"]}) for r in rows]
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    by_caption = audit(folder, features=False)
    by_scene = audit(shapes_folder, features=False)
    assert by_caption.sources == {"caption": 24}
    for name in ("shape", "colour", "colour+shape", "background", "count"):
        assert by_caption.attributes[name]["counts"] == by_scene.attributes[name]["counts"]


def test_bare_images_are_predicted_by_the_encoder(shapes_folder, tmp_path):
    folder = tmp_path / "bare"
    shutil.copytree(shapes_folder / "images", folder)
    result = audit(folder, features=True)
    assert result.sources == {"predicted": 24}
    assert sum(result.attributes["count"]["counts"].values()) == 24


def test_hostile_rows_are_listed_not_dropped(shapes_folder, tmp_path):
    folder = copy_folder(shapes_folder, tmp_path / "hostile")
    (folder / "images/broken.png").write_bytes(b"\x89PNG not really")
    outside = tmp_path / "outside.png"
    Image.new("RGB", (16, 16)).save(outside)
    bad = [
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"file_name": "../outside.png", "text": "a red circle"}),
        json.dumps({"file_name": str(outside), "text": "a red circle"}),
        json.dumps({"file_name": "images/missing.png", "text": "a red circle"}),
        json.dumps({"file_name": "images/000003.png", "text": "a red circle"}),  # twice
        '{"file_name": "images/000001.png", "text": "a red \\ud800 circle"}',
        json.dumps({"file_name": "images/broken.png", "text": "a red circle"}),
    ]
    rows = (folder / "metadata.jsonl").read_text().splitlines()
    rows[2] = json.dumps({"file_name": "images/000002.png", "text": "a mauve blob"})
    (folder / "metadata.jsonl").write_text("\n".join(rows[2:] + bad) + "\n")
    result = audit(folder, features=False)
    problems = "\n".join(result.problems)
    assert "line 23: not JSON" in problems
    assert "line 24: not a JSON object" in problems
    assert problems.count("points outside the folder") == 2
    assert "does not exist" in problems and "listed twice" in problems
    assert "lone surrogate" in problems
    assert "outside the Shapes World vocabulary: mauve, blob" in problems
    assert "broken.png" in problems and "not an image" in problems
    assert result.images == 21  # 22 rows of the export kept, one caption unreadable
    assert len(result.problems) == 9
    html, data = write(result, tmp_path / "report")
    assert "lone surrogate" in html.read_text()
    assert json.loads(data.read_text())["images"] == 21


def test_a_folder_with_nothing_usable_is_one_error(tmp_path):
    with pytest.raises(DataError, match=r"no metadata\.jsonl and no images"):
        read_folder(tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        read_folder(tmp_path / "absent")


def test_reference_folder_is_the_target(shapes_folder):
    result = audit(shapes_folder, reference=shapes_folder, features=False)
    for name in ("count", "size", "style"):
        # Against itself only the half-count smoothing of the reference remains.
        assert result.attributes[name]["imbalance"]["total_variation"] < 0.03
    uniform = audit(shapes_folder, features=False)
    assert result.attributes["lighting"]["target"] != uniform.attributes["lighting"]["target"]
    assert result.to_dict()["target"].startswith("reference")


def test_duplicates_and_outliers_are_found(shapes_folder, tmp_path):
    folder = copy_folder(shapes_folder, tmp_path / "dups")
    shutil.copy(folder / "images/000003.png", folder / "images/copy.png")
    Image.new("RGB", (16, 16), (255, 0, 255)).save(folder / "images/odd.png")
    with (folder / "metadata.jsonl").open("a") as rows:
        rows.write(json.dumps({"file_name": "images/copy.png", "text": "a red circle"}) + "\n")
        rows.write(json.dumps({"file_name": "images/odd.png"}) + "\n")  # predicted
    result = audit(folder, features=True)
    assert ["images/000003.png", "images/copy.png"] in result.duplicates
    assert result.sources == {"scene": 24, "caption": 1, "predicted": 1}
    assert [o["file_name"] for o in result.outliers][:1] == ["images/odd.png"]
    html, _ = write(result, tmp_path / "report")
    assert html.read_text().count("data:image/png;base64,") >= 3


def test_feature_map_separates_what_the_encoder_tells_apart(shapes_folder, tmp_path):
    result = audit(shapes_folder, features=True)
    projection = result.projection
    assert projection["method"] == "pca" and len(projection["points"]) == 24
    assert 0 < sum(projection["explained_variance"]) <= 1
    assert {p["group"] for p in projection["points"]} <= {
        "circle", "square", "triangle", "star", "heart", "hexagon"
    }  # fmt: skip
    html, _ = write(result, tmp_path / "report")
    assert "Feature space" in html.read_text()
