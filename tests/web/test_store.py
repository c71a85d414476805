"""The content-addressed store: atomic writes, one copy per content, no way out."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from PIL import Image

from genlab.core.imageio import read_metadata
from genlab.web.store import ImageStore, PathOutsideStore


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "data")


def test_image_is_stored_under_its_hash_with_metadata(store: ImageStore) -> None:
    image = Image.new("RGB", (16, 8), (10, 200, 30))
    stored = store.put_image(image, "a green box\nSteps: 1, Seed: 2, Size: 16x8", {"k": 1})
    path = store.resolve(stored.path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    assert stored.path == f"images/{stored.sha256[:2]}/{stored.sha256}.png"
    assert (stored.width, stored.height) == (16, 8)
    meta = read_metadata(path)
    assert meta.parameters.startswith("a green box") and meta.record == {"k": 1}
    # Nothing but the finished file is left in the folder tree.
    assert store.files() == [stored.path]


def test_same_bytes_are_stored_once(store: ImageStore) -> None:
    image = Image.new("RGB", (8, 8), (1, 2, 3))
    first = store.put_image(image, "x")
    second = store.put_image(image, "x")
    assert first == second
    assert store.files() == [first.path]


@pytest.mark.parametrize(
    "path",
    [
        "../secret",
        "images/../../secret",
        "/etc/passwd",
        "images\\..\\..\\secret",
        "C:/windows",
        "",
        "images/\x00.png",
    ],
)
def test_paths_that_leave_the_data_folder_are_refused(store: ImageStore, path: str) -> None:
    with pytest.raises(PathOutsideStore):
        store.resolve(path)


def test_a_symlink_out_of_the_data_folder_is_refused(store: ImageStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not yours")
    (store.root / "images" / "ab").mkdir()
    os.symlink(outside, store.root / "images" / "ab" / "link.png")
    with pytest.raises(PathOutsideStore):
        store.resolve("images/ab/link.png")


def test_sweep_removes_orphans_and_temporary_files_and_keeps_referenced_ones(
    store: ImageStore,
) -> None:
    kept = store.put_image(Image.new("RGB", (4, 4), (9, 9, 9)), "kept")
    orphan = store.put_image(Image.new("RGB", (4, 4), (8, 8, 8)), "orphan")
    temp = store.root / "images" / ".incoming-deadbeef.png"
    temp.write_bytes(b"half")
    removed = store.sweep({kept.path})
    assert set(removed) == {orphan.path, "images/.incoming-deadbeef.png"}
    assert store.files() == [kept.path]


def test_remove_takes_the_thumbnails_too(store: ImageStore) -> None:
    stored = store.put_image(Image.new("RGB", (300, 100), (50, 60, 70)), "wide")
    thumb = store.thumbnail(stored.path, 64)
    with Image.open(thumb) as small:
        assert small.format == "WEBP" and small.size == (64, 21)
    assert store.thumbnail(stored.path, 64) == thumb  # cached, not redrawn
    store.remove(stored.path)
    assert not thumb.exists() and store.files() == []
