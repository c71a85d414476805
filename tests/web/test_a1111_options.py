"""/sdapi/v1/options: A1111's names with genlab's values, checked, stored, applied."""

from __future__ import annotations

import base64
import io
import json

from fastapi.testclient import TestClient
from PIL import Image

from genlab.core.imageio import read_metadata
from genlab.web.app import create_app
from genlab.web.jobs import REQUEST_FIELDS

A1111_KEYS = {
    "sd_model_checkpoint",
    "send_seed",
    "samples_format",
    "CLIP_stop_at_last_layers",
    "eta_noise_seed_delta",
    "sd_vae",
    "outdir_samples",
    "outdir_txt2img_samples",
    "jpeg_quality",
}


def test_options_name_a1111_keys_with_genlab_values(client: TestClient) -> None:
    options = client.get("/sdapi/v1/options").json()
    assert set(options) >= A1111_KEYS
    assert options["samples_format"] == "png" and options["CLIP_stop_at_last_layers"] == 1
    assert options["eta_noise_seed_delta"] == 0 and options["sd_vae"] == "Automatic"
    assert options["outdir_samples"] == ""  # no server folders are shown


def test_a_read_modify_write_round_trip_is_accepted(client: TestClient) -> None:
    options = client.get("/sdapi/v1/options").json()
    options.update(send_seed=False, eta_noise_seed_delta=31337, CLIP_stop_at_last_layers=2)
    assert client.post("/sdapi/v1/options", json=options).status_code == 200
    stored = client.get("/sdapi/v1/options").json()
    assert stored == options


def test_bad_values_are_refused_with_the_allowed_ones_and_nothing_is_stored(
    client: TestClient,
) -> None:
    bad = {
        "samples_format": "gif",
        "CLIP_stop_at_last_layers": 2**70,
        "jpeg_quality": "high",
        "send_seed": 1,
        "eta_noise_seed_delta": -1,
        "sd_vae": "vae-ft-mse.safetensors",
        "outdir_samples": "/etc",
        "face_restoration": True,
        "sd_model_checkpoint": 7,
    }
    for key, value in bad.items():
        answer = client.post("/sdapi/v1/options", json={"send_size": False, key: value})
        assert answer.status_code == 422, (key, answer.text)
        assert answer.json()["detail"].startswith(key), answer.json()
    assert (
        "png, jpg, webp"
        in client.post("/sdapi/v1/options", json={"samples_format": "gif"}).json()["detail"]
    )
    assert client.get("/sdapi/v1/options").json()["send_size"] is True  # all or none


def test_unknown_options_are_stored_within_limits(client: TestClient) -> None:
    answer = client.post("/sdapi/v1/options", json={"my_extension_option": {"a": [1, 2]}})
    assert answer.status_code == 200
    assert client.get("/sdapi/v1/options").json()["my_extension_option"] == {"a": [1, 2]}
    huge = client.post("/sdapi/v1/options", json={"blob": "x" * 5000})
    assert huge.status_code == 422 and "at most" in huge.json()["detail"]
    many = client.post("/sdapi/v1/options", json={f"key{i}": i for i in range(600)})
    assert many.status_code == 422 and "options" in many.json()["detail"]
    for name in ("", "\ud800", "x" * 200):
        # json.dumps escapes the lone surrogate, as a hostile client would send it.
        body = json.dumps({name: 1})
        headers = {"content-type": "application/json"}
        assert client.post("/sdapi/v1/options", content=body, headers=headers).status_code == 422


def test_options_persist_across_restarts(settings) -> None:
    with TestClient(create_app(settings)) as first:
        first.post("/sdapi/v1/options", json={"samples_format": "webp", "custom": "kept"})
    with TestClient(create_app(settings)) as second:
        options = second.get("/sdapi/v1/options").json()
    assert options["samples_format"] == "webp" and options["custom"] == "kept"


def _first_image(answer: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))


def test_samples_format_sets_the_stored_and_sent_format(client: TestClient) -> None:
    client.post("/sdapi/v1/options", json={"samples_format": "jpg"})
    answer = client.post("/sdapi/v1/txt2img", json={"prompt": "a red circle", "seed": 5}).json()
    image = _first_image(answer)
    assert image.format == "JPEG"
    # Its parameters are in EXIF, where A1111 writes them for JPEG, and png-info reads them.
    assert "Seed: 5" in read_metadata(image).parameters
    info = client.post("/sdapi/v1/png-info", json={"image": answer["images"][0]}).json()
    assert info["parameters"]["Seed"] == "5"
    listed = client.get("/api/images").json()["items"][0]
    assert listed["url"].endswith(".jpg")
    assert client.get(listed["download_url"]).content[:3] == b"\xff\xd8\xff"
    # override_settings change it for one request only.
    once = client.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "a star", "override_settings": {"samples_format": "webp"}},
    ).json()
    assert _first_image(once).format == "WEBP"
    again = client.post("/sdapi/v1/txt2img", json={"prompt": "a star"}).json()
    assert _first_image(again).format == "JPEG"


def test_override_settings_are_checked_like_options(client: TestClient) -> None:
    for overrides in ({"samples_format": "bmp"}, {"CLIP_stop_at_last_layers": 0}, []):
        answer = client.post(
            "/sdapi/v1/txt2img", json={"prompt": "x", "override_settings": overrides}
        )
        assert answer.status_code == 422, answer.text


def test_clip_skip_option_reaches_requests_that_can_take_it(client: TestClient) -> None:
    client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2})
    answer = client.post("/sdapi/v1/txt2img", json={"prompt": "a circle"}).json()
    job = client.get("/api/jobs").json()["items"][0]
    assert "clip_skip" in REQUEST_FIELDS
    assert json.loads(answer["info"])["clip_skip"] == 2
    assert job["request"]["request"]["clip_skip"] == 2  # the job's payload holds the request
    assert client.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 2


def test_non_finite_numbers_are_not_stored(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    for body in ('{"x": NaN}', '{"x": {"y": [Infinity]}}', '{"x": -Infinity}'):
        answer = client.post("/sdapi/v1/options", content=body, headers=headers)
        assert answer.status_code == 422 and "finite" in answer.json()["detail"]
    assert "x" not in client.get("/sdapi/v1/options").json()


def test_a_format_stored_by_an_older_server_does_not_fail_jobs(client: TestClient) -> None:
    from genlab.web.models import Option

    studio = client.app.state.studio
    with studio.sessions() as session:  # what earlier versions stored unchecked
        session.merge(Option(key="samples_format", value=json.dumps("gif")))
        session.commit()
    answer = client.post("/sdapi/v1/txt2img", json={"prompt": "a circle"})
    assert answer.status_code == 200 and _first_image(answer.json()).format == "PNG"
