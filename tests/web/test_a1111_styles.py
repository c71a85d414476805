"""Prompt styles: genlab's presets and A1111 styles.csv imports, applied as A1111 does."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from genlab.services.styles import Style, apply_styles, merge_prompt, read_styles_csv

STYLES_CSV = (
    "name,prompt,negative_prompt\n"
    'framed,"a picture of {prompt}, framed",blurry\n'
    "night,at night,\n"
    ",skipped row without a name,\n"
)


def test_merge_follows_a1111() -> None:
    assert merge_prompt("{prompt}, framed", "a circle") == "a circle, framed"
    assert merge_prompt("at night", "a circle ") == "a circle, at night"
    assert merge_prompt("", "a circle") == "a circle"
    assert merge_prompt("at night", "") == "at night"
    styles = [Style("a", "{prompt} A", "neg"), Style("b", "B", "{prompt}!")]
    assert apply_styles("p", "", styles) == ("p A, B", "neg!")


def test_styles_csv_is_read_like_a1111() -> None:
    styles = read_styles_csv(STYLES_CSV)
    assert [s.name for s in styles] == ["framed", "night"]
    assert styles[0] == Style("framed", "a picture of {prompt}, framed", "blurry")
    # The older column name, a byte-order mark and extra columns are accepted.
    older = read_styles_csv("\ufeffname,text,extra\nold,old words,x\n")
    assert older == [Style("old", "old words", "")]


@pytest.mark.parametrize("text", ["prompt\nx\n", "", 'name,prompt\n"a,unclosed\n'])
def test_bad_styles_csv_is_refused(text: str) -> None:
    from genlab.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        read_styles_csv(text)


def test_presets_are_listed_as_a1111_styles(client: TestClient) -> None:
    items = client.get("/sdapi/v1/prompt-styles").json()
    assert all(set(i) == {"name", "prompt", "negative_prompt"} for i in items)
    by_name = {i["name"]: i for i in items}
    assert by_name["lighting: soft light"]["prompt"] == "soft light"


def test_imported_styles_apply_to_txt2img_and_are_recorded(client: TestClient) -> None:
    imported = client.post("/api/styles", json={"csv": STYLES_CSV})
    assert imported.status_code == 200, imported.text
    assert [s["name"] for s in imported.json()] == ["framed", "night"]
    names = {i["name"] for i in client.get("/sdapi/v1/prompt-styles").json()}
    assert {"framed", "night", "colour: blue background"} <= names
    answer = client.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "a red circle", "styles": ["framed", "colour: blue background"]},
    )
    assert answer.status_code == 200, answer.text
    info = json.loads(answer.json()["info"])
    assert info["prompt"] == "a picture of a red circle, framed, blue background"
    assert info["negative_prompt"] == "blurry"
    assert info["styles"] == ["framed", "colour: blue background"]
    assert answer.json()["parameters"]["styles"] == ["framed", "colour: blue background"]
    # The export is an A1111 styles.csv that reads back the same.
    exported = client.get("/api/styles/styles.csv").text
    assert [s.name for s in read_styles_csv(exported)] == ["framed", "night"]


def test_unknown_styles_and_bad_imports_are_refused(client: TestClient) -> None:
    unknown = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "styles": ["nope"]})
    assert unknown.status_code == 422 and "prompt-styles" in unknown.json()["detail"]
    many = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "styles": ["night"] * 17})
    assert many.status_code == 422
    bad = client.post("/api/styles", json={"csv": "just,a,header\n"})
    assert bad.status_code == 422 and "name, prompt" in bad.json()["detail"]
    long_name = client.post("/api/styles", json={"csv": "name,prompt\n" + "n" * 129 + ",x\n"})
    assert long_name.status_code == 422


def test_replace_and_delete_imported_styles(client: TestClient) -> None:
    client.post("/api/styles", json={"csv": STYLES_CSV})
    kept = client.post("/api/styles", json={"csv": "name,prompt\nonly,one\n", "replace": True})
    assert [s["name"] for s in kept.json()] == ["only"]
    assert client.delete("/api/styles/only").status_code == 204
    assert client.delete("/api/styles/only").status_code == 404
    listed = client.get("/api/styles").json()
    assert listed and all(s["preset"] for s in listed)


@pytest.mark.stepped
def test_studio_jobs_take_styles_too(client: TestClient) -> None:
    from tests.web.conftest import wait_for

    client.post("/api/styles", json={"csv": STYLES_CSV})
    created = client.post(
        "/api/jobs",
        json={"kind": "generate", "prompt": "a red circle", "styles": ["night"], "seed": 2},
    )
    assert created.status_code == 201, created.text
    job = wait_for(client, created.json()["id"])
    image = client.get(f"/api/images/{job['image_ids'][0]}").json()
    assert image["prompt"] == "a red circle, at night"
    bad = client.post("/api/jobs", json={"kind": "generate", "prompt": "x", "styles": ["nope"]})
    assert bad.status_code == 422 and "styles" in bad.json()["detail"]


def test_the_generate_page_offers_imported_styles(client: TestClient) -> None:
    from tests.web.conftest import wait_for
    from tests.web.test_pages import post

    assert 'name="style"' not in client.get("/").text  # presets are the descriptor chips
    client.post("/api/styles", json={"csv": STYLES_CSV})
    page = client.get("/").text
    assert '<option value="framed">framed</option>' in page
    answer = post(client, "/generate", {"prompt": "a red star", "style": "framed", "seed": "1"})
    assert answer.status_code == 303
    job_id = int(answer.headers["location"].rsplit("/", 1)[1])
    job = wait_for(client, job_id)
    assert job["request"]["request"]["prompt"] == "a picture of a red star, framed"
    assert job["request"]["request"]["negative_prompt"] == "blurry"
