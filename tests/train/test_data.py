"""Training folders: both layouts read, and every problem reported in one line."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from genlab.train.data import DataError, load_captioned_images


def write_folder(folder, rows):
    (folder / "images").mkdir(parents=True)
    lines = []
    for i, caption in enumerate(rows):
        Image.new("RGB", (40, 20), (200, 10, 10)).save(folder / "images" / f"{i}.png")
        lines.append(json.dumps({"file_name": f"images/{i}.png", "text": caption}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")


def test_imagefolder_is_read_resized_and_cropped(tmp_path):
    write_folder(tmp_path, ["a red box", "  another red box "])
    data = load_captioned_images(tmp_path, 16)
    assert data.images.shape == (2, 3, 16, 16)
    assert data.captions == ["a red box", "another red box"]
    assert int(data.images[0, 0].float().mean()) in range(195, 206)


def test_sidecar_captions_are_read(tmp_path):
    Image.new("RGB", (16, 16)).save(tmp_path / "cat.png")
    (tmp_path / "cat.txt").write_text("a black cat\n")
    data = load_captioned_images(tmp_path, 16)
    assert data.captions == ["a black cat"]


def test_every_problem_is_named_in_one_message(tmp_path):
    write_folder(tmp_path, ["fine", "", 7, "fine too"])
    (tmp_path / "images" / "3.png").write_bytes(b"not a png")
    with (tmp_path / "metadata.jsonl").open("a") as rows:
        rows.write('{"file_name": "images/missing.png", "text": "gone"}\n{broken\n')
    with pytest.raises(DataError) as err:
        load_captioned_images(tmp_path, 16)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("5 problem(s) in")
    assert "line 2: caption is empty" in message
    assert "line 3: caption must be text, got int" in message
    assert "(and 2 more)" in message


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        load_captioned_images(tmp_path / "nope", 16)
    with pytest.raises(DataError, match=r"no metadata\.jsonl and no image"):
        load_captioned_images(tmp_path, 16)
    Image.new("RGB", (16, 16)).save(tmp_path / "dog.png")
    with pytest.raises(DataError, match=r"dog\.png has no caption file dog\.txt"):
        load_captioned_images(tmp_path, 16)
