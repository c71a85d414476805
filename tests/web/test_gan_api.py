"""The shipped GAN through the A1111 API: listed with its hash, drawn by txt2img, and
its answer says once that steps and samplers do not apply."""

from __future__ import annotations

import base64
import io
import json

from fastapi.testclient import TestClient


def test_the_gan_is_listed_and_draws_through_txt2img(client: TestClient) -> None:
    models = client.get("/sdapi/v1/sd-models").json()
    gan = next(m for m in models if m["model_name"] == "gan")
    assert gan["title"] == f"gan [{gan['hash']}]" and len(gan["sha256"]) == 64
    body = {
        "prompt": "a red star left of a blue circle",
        "seed": 5,
        "steps": 30,
        "override_settings": {"sd_model_checkpoint": gan["title"]},
    }
    first = client.post("/sdapi/v1/txt2img", json=body)
    assert first.status_code == 200, first.text
    info = json.loads(first.json()["info"])
    (infotext,) = info["infotexts"]
    assert "Truncation psi: 1" in infotext and "Seed: 5" in infotext
    assert "Steps:" not in infotext and "Sampler:" not in infotext
    again = client.post("/sdapi/v1/txt2img", json=body)
    assert pixels(again.json()["images"][0]) == pixels(first.json()["images"][0])


def pixels(encoded: str) -> bytes:
    """The decoded image (the PNG's metadata holds timings, which differ run to run)."""
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(encoded))).tobytes()
