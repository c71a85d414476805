"""/sdapi/v1: A1111's request and response shapes, field names and types."""

from __future__ import annotations

import base64
import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from genlab.core.samplers import SAMPLERS
from tests.web.conftest import b64, blocker, generate_done, png_bytes, wait_for, wait_until

INFO_KEYS = {
    "prompt",
    "all_prompts",
    "negative_prompt",
    "all_negative_prompts",
    "seed",
    "all_seeds",
    "subseed",
    "all_subseeds",
    "subseed_strength",
    "width",
    "height",
    "sampler_name",
    "cfg_scale",
    "steps",
    "batch_size",
    "restore_faces",
    "sd_model_name",
    "sd_model_hash",
    "denoising_strength",
    "extra_generation_params",
    "index_of_first_image",
    "infotexts",
    "styles",
    "job_timestamp",
    "clip_skip",
    "version",
}


def test_txt2img_answers_in_a1111_shape(client: TestClient) -> None:
    body = {
        "prompt": "two green triangles",
        "negative_prompt": "blurry",
        "seed": 42,
        "batch_size": 2,
        "width": 64,
        "height": 64,
        "restore_faces": False,  # A1111 fields genlab ignores are accepted
        "do_not_save_grid": True,
    }
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"images", "parameters", "info"}
    assert isinstance(answer["info"], str) and len(answer["images"]) == 2
    assert answer["parameters"]["prompt"] == "two green triangles"
    assert answer["parameters"]["do_not_save_grid"] is True
    info = json.loads(answer["info"])
    assert set(info) >= INFO_KEYS
    assert info["seed"] == 42 and info["all_seeds"] == [42, 43]
    assert info["all_prompts"] == ["two green triangles"] * 2
    assert (info["width"], info["height"]) == (64, 64)
    assert info["sd_model_name"] == "shapes-world" and len(info["sd_model_hash"]) == 10
    image = Image.open(io.BytesIO(base64.b64decode(answer["images"][1])))
    assert image.size == (64, 64)
    assert image.info["parameters"] == info["infotexts"][1] and "Seed: 43" in info["infotexts"][1]
    # The images are in the gallery too, as jobs from any client are.
    assert client.get("/api/images").json()["total"] == 2


def test_txt2img_without_images_still_gives_info(client: TestClient) -> None:
    answer = client.post(
        "/sdapi/v1/txt2img", json={"prompt": "a star", "seed": 3, "send_images": False}
    ).json()
    assert answer["images"] == [] and json.loads(answer["info"])["seed"] == 3


def test_txt2img_takes_the_model_from_override_settings(client: TestClient) -> None:
    bad = client.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "a star", "override_settings": {"sd_model_checkpoint": "nope"}},
    )
    assert bad.status_code == 422 and "model" in bad.json()["detail"]
    title = next(
        m["title"]
        for m in client.get("/sdapi/v1/sd-models").json()
        if m["model_name"] == "procedural"
    )
    good = client.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "a star", "override_settings": {"sd_model_checkpoint": title}},
    )
    assert good.status_code == 200, good.text


def test_unsupported_a1111_features_are_refused_not_ignored(client: TestClient) -> None:
    for extra in ({"restore_faces": True}, {"subseed_strength": 0.5}, {"styles": ["cinematic"]}):
        response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **extra})
        assert response.status_code == 422
        assert next(iter(extra)) in response.json()["detail"]


def test_txt2img_reports_an_engine_refusal_as_422(client: TestClient) -> None:
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "7 circles"})
    assert response.status_code == 422 and "1 to 3" in response.json()["detail"]


def test_img2img_stores_the_upload_and_reports_the_engine_refusal(
    client: TestClient, settings
) -> None:
    body = {"prompt": "a red circle", "init_images": [b64(png_bytes(64, 64))]}
    response = client.post("/sdapi/v1/img2img", json=body)
    # The default model (procedural) draws from prompts only and says so.
    assert response.status_code == 422 and "init_image" in response.json()["detail"]
    assert len(list((settings.data_dir / "inputs").rglob("*.png"))) == 1
    missing = client.post("/sdapi/v1/img2img", json={"prompt": "x"})
    assert missing.status_code == 422 and "init_images" in missing.json()["detail"]


@pytest.mark.stepped
def test_png_info_of_a_genlab_image_returns_its_parameters(client: TestClient) -> None:
    job = generate_done(client, "a purple hexagon", seed=11)
    image = client.get(f"/api/images/{job['image_ids'][0]}").json()
    data = client.get(image["download_url"]).content
    for encoded in (b64(data), "data:image/png;base64," + b64(data)):
        answer = client.post("/sdapi/v1/png-info", json={"image": encoded}).json()
        assert set(answer) == {"info", "items", "parameters"}
        assert answer["info"] == image["parameters"]
        assert answer["parameters"]["Prompt"] == "a purple hexagon"
        assert answer["parameters"]["Seed"] == "11" and answer["parameters"]["Size-1"] == "256"
        assert json.loads(answer["items"]["genlab"])["request"]["seed"] == 11


def test_png_info_of_an_image_without_metadata_is_empty(client: TestClient) -> None:
    answer = client.post("/sdapi/v1/png-info", json={"image": b64(png_bytes())}).json()
    assert answer == {"info": "", "items": {}, "parameters": {}}


def test_samplers_list_a1111_names(client: TestClient) -> None:
    items = client.get("/sdapi/v1/samplers").json()
    assert [i["name"] for i in items] == list(SAMPLERS)
    assert all(set(i) == {"name", "aliases", "options"} for i in items)
    assert "k_euler_a" in next(i for i in items if i["name"] == "Euler a")["aliases"]


def test_sd_models_have_a1111_fields(client: TestClient) -> None:
    models = client.get("/sdapi/v1/sd-models").json()
    names = {m["model_name"] for m in models}
    assert {"builtin", "procedural"} <= names
    for model in models:
        assert set(model) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    builtin = next(m for m in models if m["model_name"] == "builtin")
    assert builtin["title"] == f"builtin [{builtin['hash']}]" and len(builtin["sha256"]) == 64


def test_options_round_trip_and_switch_the_default_model(client: TestClient) -> None:
    options = client.get("/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"] == "procedural"
    response = client.post(
        "/sdapi/v1/options", json={"sd_model_checkpoint": "builtin", "samples_format": "png"}
    )
    assert response.status_code == 200
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == "builtin"
    listing = {m["name"]: m["default"] for m in client.get("/api/models").json()}
    assert listing["builtin"] and not listing["procedural"]
    running = client.post(
        "/api/jobs",
        json={
            "kind": "generate",
            "prompt": "stars",
            "model": "procedural",
            "width": 512,
            "height": 512,
            "batch_size": 64,
        },
    ).json()
    job = client.post("/api/jobs", json={"kind": "generate", "prompt": "a circle"}).json()
    assert job["model"] == "builtin"
    for queued in (job, running):  # never load the built-in model here
        client.post(f"/api/jobs/{queued['id']}/cancel")
    bad = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "../../etc"})
    assert bad.status_code == 422 and "model" in bad.json()["detail"]
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == "builtin"


def test_progress_while_idle_and_while_running(client: TestClient) -> None:
    idle = client.get("/sdapi/v1/progress").json()
    assert idle["progress"] == 0 and idle["current_image"] is None
    assert {"job_count", "sampling_step", "sampling_steps", "interrupted"} <= set(idle["state"])
    job = blocker(client)

    def previewed() -> bool:
        return client.get("/sdapi/v1/progress").json()["current_image"] is not None

    wait_until(previewed, what="a preview")
    busy = client.get("/sdapi/v1/progress").json()
    assert 0 < busy["progress"] < 1 and busy["eta_relative"] > 0
    assert busy["state"]["sampling_steps"] == 64 and busy["textinfo"].startswith("step")
    Image.open(io.BytesIO(base64.b64decode(busy["current_image"]))).verify()
    skipped = client.get("/sdapi/v1/progress", params={"skip_current_image": True}).json()
    assert skipped["current_image"] is None
    assert client.post("/sdapi/v1/interrupt").json() == {}
    assert wait_for(client, job["id"])["state"] == "cancelled"


def test_openapi_documents_both_apis(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/api/jobs", "/api/images", "/sdapi/v1/txt2img", "/sdapi/v1/progress"} <= paths
    assert client.get("/docs").status_code == 200
