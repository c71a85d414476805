"""/api/images and /files: search, filters, pages, download, thumbnails, delete, paths."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from genlab.core.imageio import read_metadata
from genlab.web import gallery
from genlab.web.settings import Settings
from tests.web.conftest import generate_done, sha256


@pytest.fixture
def images(client: TestClient) -> dict[str, list[int]]:
    """Three jobs, six images, two prompts."""
    return {
        "circles": generate_done(client, "a red circle", seed=1, batch_size=2)["image_ids"],
        "stars": generate_done(client, "two yellow stars at night", seed=5, batch_size=3)[
            "image_ids"
        ],
        "square": generate_done(client, "a blue square", seed=9)["image_ids"],
    }


def every(images: dict[str, list[int]]) -> list[int]:
    return sorted(i for group in images.values() for i in group)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_list_is_newest_first_with_a_total(client: TestClient, images) -> None:
    listing = client.get("/api/images").json()
    assert listing["total"] == 6
    assert [i["id"] for i in listing["items"]] == every(images)[::-1]


def test_search_by_prompt_words_and_prefixes(client: TestClient, images) -> None:
    assert sorted(ids(client.get("/api/images", params={"q": "stars"}))) == images["stars"]
    assert sorted(ids(client.get("/api/images", params={"q": "YELL nig"}))) == images["stars"]
    assert sorted(ids(client.get("/api/images", params={"q": "red circle"}))) == images["circles"]
    assert ids(client.get("/api/images", params={"q": "red star"})) == []


def test_filter_by_model_and_date_range(client: TestClient, images) -> None:
    assert len(ids(client.get("/api/images", params={"model": "shapes-world"}))) == 6
    assert ids(client.get("/api/images", params={"model": "builtin"})) == []
    now = datetime.now(timezone.utc)
    hour = timedelta(hours=1)
    recent = {"since": (now - hour).isoformat(), "until": (now + hour).isoformat()}
    assert len(ids(client.get("/api/images", params=recent))) == 6
    assert ids(client.get("/api/images", params={"until": (now - hour).isoformat()})) == []
    wrong = client.get("/api/images", params={"since": now.isoformat(), "until": "2000-01-01"})
    assert wrong.status_code == 422 and "since" in wrong.json()["detail"]


def test_pages_cover_everything_once(client: TestClient, images) -> None:
    pages = [ids(client.get("/api/images", params={"limit": 4, "offset": o})) for o in (0, 4)]
    assert [len(p) for p in pages] == [4, 2]
    assert sorted(pages[0] + pages[1]) == every(images)
    assert client.get("/api/images", params={"limit": 0}).status_code == 422


def test_search_pages_keep_their_total_past_the_last_match(client: TestClient, images) -> None:
    """A word search counts its matches in the same query as the page; a page past
    the end has no row to carry that count and must still report it."""
    for offset, count in ((0, 2), (2, 1), (3, 0), (50, 0)):
        params = {"q": "yel", "limit": 2, "offset": offset}
        listing = client.get("/api/images", params=params).json()
        assert (listing["total"], len(listing["items"])) == (3, count), offset
    both = client.get("/api/images", params={"q": "circ", "model": "shapes-world"}).json()
    assert both["total"] == 2


def test_one_image_has_its_full_parameters(client: TestClient, images) -> None:
    image = client.get(f"/api/images/{images['square'][0]}").json()
    assert image["prompt"] == "a blue square" and image["seed"] == 9
    assert image["parameters"].startswith("a blue square\n") and "Seed: 9" in image["parameters"]
    assert image["request"]["seed"] == 9 and image["request"]["batch_size"] == 1


def test_download_is_the_stored_file_with_metadata_intact(client: TestClient, images) -> None:
    image = client.get(f"/api/images/{images['stars'][1]}").json()
    response = client.get(image["download_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert "attachment" in response.headers["content-disposition"]
    assert sha256(response.content) == image["sha256"]
    meta = read_metadata(Image.open(io.BytesIO(response.content)))
    assert meta.parameters == image["parameters"] and meta.source == "genlab"
    assert client.get(image["url"]).content == response.content


def test_thumbnail_is_a_small_cached_webp(client: TestClient, images, settings: Settings) -> None:
    image_id = images["square"][0]
    response = client.get(f"/api/images/{image_id}/thumbnail", params={"size": 128})
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(response.content)) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) == 128
    cached = list((settings.data_dir / "thumbs").rglob("*-128.webp"))
    assert len(cached) == 1
    drawn_at = cached[0].stat().st_mtime_ns
    again = client.get(f"/api/images/{image_id}/thumbnail", params={"size": 128})
    assert again.content == response.content and cached[0].stat().st_mtime_ns == drawn_at
    assert client.get(f"/api/images/{image_id}/thumbnail", params={"size": 1000}).status_code == 422


def test_delete_removes_the_row_and_the_unreferenced_file(
    client: TestClient, images, settings: Settings
) -> None:
    image = client.get(f"/api/images/{images['square'][0]}").json()
    client.get(image["thumbnail_url"])
    path = settings.data_dir / image["url"].removeprefix("/files/")
    assert path.is_file()
    assert client.delete(f"/api/images/{image['id']}").status_code == 204
    assert client.get(f"/api/images/{image['id']}").status_code == 404
    assert not path.exists()
    assert not list((settings.data_dir / "thumbs").rglob(f"{image['sha256']}*"))
    assert client.get("/api/images").json()["total"] == 5
    assert client.delete(f"/api/images/{image['id']}").status_code == 404


def test_delete_keeps_a_file_another_image_still_uses(client: TestClient) -> None:
    # Two rows can hold the same bytes (one file): deleting one keeps the file.
    studio = client.app.state.studio
    stored = studio.store.put_image(Image.new("RGB", (8, 8), (5, 6, 7)), "twice")
    new = gallery.NewImage(stored, "twice", "", "shapes-world", 1, "twice", None)
    with studio.sessions() as session:
        rows = [
            gallery.add_images(session, [new], owner_id=studio.local_user_id, job_id=None)[0]
            for _ in range(2)
        ]
        session.commit()
    path = studio.store.resolve(stored.path)
    assert client.delete(f"/api/images/{rows[0].id}").status_code == 204
    assert path.is_file() and client.get(f"/api/images/{rows[1].id}/file").status_code == 200
    assert client.delete(f"/api/images/{rows[1].id}").status_code == 204
    assert not path.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/files/%2e%2e/genlab.db",
        "/files/images/%2e%2e/%2e%2e/secret.txt",
        "/files/%2fetc%2fpasswd",
        "/files//etc/passwd",
        "/files/genlab.db",
        "/files/images/..%5c..%5csecret.txt",
    ],
)
def test_paths_that_leave_the_store_are_404_json(
    client: TestClient, settings: Settings, path: str
) -> None:
    (settings.data_dir.parent / "secret.txt").write_text("TOP-SECRET-CONTENT")
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"detail"} and "TOP-SECRET" not in response.text
