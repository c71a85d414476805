"""The store under attack or damage: stored files that no longer decode, over-long
paths, symlink loops and symlinks to the database inside the data folder.

Damaged files get a 4xx one-liner wherever they are read (thumbnails, downloads,
style submissions) and are never served with "immutable" caching; only regular files
the store itself named, inside its image areas, are served at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.web.app import create_app
from genlab.web.settings import Settings
from genlab.web.store import ImageStore, PathOutsideStore
from genlab.web.worker import Worker
from tests.web.test_hardening_input import assert_refused, image_in_gallery, studio_of


@pytest.fixture
def idle(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(Worker, "start", lambda self: None)
    with TestClient(create_app(settings)) as client:
        yield client


def damaged_image(client: TestClient) -> tuple[int, str]:
    """A gallery image whose stored file was overwritten with bytes that are no image."""
    image_id = image_in_gallery(client)
    path = client.get(f"/api/images/{image_id}").json()["url"].removeprefix("/files/")
    (studio_of(client).store.root / path).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return image_id, path


# -- 11. damaged stored files ----------------------------------------------------------------


def test_a_thumbnail_of_a_damaged_file_is_a_422_line(idle: TestClient) -> None:
    image_id, _ = damaged_image(idle)
    detail = assert_refused(idle.get(f"/api/images/{image_id}/thumbnail?size=64"))
    assert detail == f"image {image_id}'s stored file cannot be decoded"
    assert idle.get("/gallery").status_code == 200


def test_a_style_job_on_a_damaged_gallery_image_is_refused_at_submit(idle: TestClient) -> None:
    good = image_in_gallery(idle, "a blue square")
    bad, _ = damaged_image(idle)
    for content, style, name in ((bad, good, "content_image"), (good, bad, "style_image")):
        body = {"kind": "style", "content_image_id": content, "style_image_id": style}
        detail = assert_refused(idle.post("/api/jobs", json=body))
        assert detail == f"{name}: image {bad}'s stored file cannot be decoded"
    assert idle.get("/api/jobs").json()["count"] == 2  # the two generations only


def test_damaged_bytes_are_not_served_as_immutable(idle: TestClient) -> None:
    image_id, path = damaged_image(idle)
    for url in (f"/files/{path}", f"/api/images/{image_id}/file"):
        response = idle.get(url)
        assert response.status_code == 422, url
        assert "immutable" not in response.headers.get("cache-control", "")
        assert "damaged" in response.json()["detail"]


def test_intact_files_and_thumbnails_are_served_for_good(idle: TestClient) -> None:
    image_id = image_in_gallery(idle)
    url = idle.get(f"/api/images/{image_id}").json()["url"]
    for address in (url, f"/api/images/{image_id}/file", f"/api/images/{image_id}/thumbnail"):
        response = idle.get(address)
        assert response.status_code == 200, address
        assert "immutable" in response.headers["cache-control"]
    thumbs = sorted((studio_of(idle).store.root / "thumbs").rglob("*.webp"))
    relative = thumbs[0].relative_to(studio_of(idle).store.root).as_posix()
    assert idle.get(f"/files/{relative}").status_code == 200


# -- 12. paths and symlinks ------------------------------------------------------------------


def test_an_over_long_path_is_a_404(idle: TestClient) -> None:
    for url in ("/files/images/" + "a" * 5000, "/files/images/" + "/".join(["ab"] * 2000)):
        assert_refused(idle.get(url), 404)


def test_a_symlink_loop_is_a_404(idle: TestClient) -> None:
    folder = studio_of(idle).store.root / "images" / "ab"
    folder.mkdir()
    os.symlink(folder / "b.png", folder / "a.png")
    os.symlink(folder / "a.png", folder / "b.png")
    assert_refused(idle.get("/files/images/ab/a.png"), 404)
    name = "ab" + "0" * 62 + ".png"
    os.symlink(folder / name, folder / name)
    assert_refused(idle.get(f"/files/images/ab/{name}"), 404)


def test_a_symlink_to_the_database_is_not_served(idle: TestClient) -> None:
    store = studio_of(idle).store
    database = store.root / "genlab.db"
    assert database.is_file()
    folder = store.root / "images" / "ab"
    folder.mkdir()
    name = "ab" + "0" * 62 + ".png"  # a name of the store's own form
    for link in (folder / name, folder / "db.png", store.root / "thumbs" / "db.webp"):
        os.symlink(database, link)
        url = "/files/" + link.relative_to(store.root).as_posix()
        response = idle.get(url)
        assert response.status_code == 404, url
        assert b"SQLite" not in response.content
    assert_refused(idle.get("/files/genlab.db"), 404)


def test_only_names_the_store_gives_are_served(idle: TestClient) -> None:
    store = studio_of(idle).store
    stray = store.root / "images" / "ab" / "notes.png"
    stray.parent.mkdir()
    stray.write_bytes(b"anything")
    assert_refused(idle.get("/files/images/ab/notes.png"), 404)
    assert_refused(idle.get("/files/images/ab"), 404)


def test_resolve_refuses_loops_long_paths_and_links_out_of_its_areas(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "data")
    (store.root / "genlab.db").write_bytes(b"SQLite format 3\x00")
    (store.root / "work").mkdir()
    folder = store.root / "images" / "ab"
    folder.mkdir()
    os.symlink(folder / "loop.png", folder / "loop.png")
    os.symlink(store.root / "genlab.db", folder / "db.png")
    os.symlink(store.root / "work", folder / "work")
    for path in (
        "images/ab/loop.png",
        "images/ab/db.png",
        "images/ab/work/x.png",
        "images/" + "a" * 5000,
        "genlab.db",
        "work/job-1/cell.png",
    ):
        with pytest.raises(PathOutsideStore):
            store.resolve(path)
