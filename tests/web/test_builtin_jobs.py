"""Jobs on the built-in diffusion model: real denoising steps, latent previews, img2img.

Slow (the model takes seconds to load on a CPU), so one model load serves the file.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from genlab.core.imageio import read_metadata
from genlab.services.generation import EngineCache
from genlab.web.app import create_app
from genlab.web.settings import Settings
from tests.web.conftest import b64, cancel_at_step, png_bytes, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engines() -> EngineCache:
    return EngineCache()


@pytest.fixture
def client(tmp_path: Path, engines: EngineCache) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"), engines=engines)) as c:
        yield c


def test_txt2img_steps_and_previews_from_latents(client: TestClient) -> None:
    body = {"kind": "generate", "prompt": "a red circle", "model": "builtin", "steps": 12}
    job = client.post("/api/jobs", json={**body, "seed": 3}).json()
    events = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    assert events[-1][0] == "done"
    steps = [d["step"] for n, d in events if n == "progress"]
    assert steps[-1] == 12 and steps == sorted(steps)
    previews = [d for n, d in events if n == "preview"]
    assert [p["step"] for p in previews] == [5, 10]
    data = base64.b64decode(previews[0]["image"].split(",", 1)[1])
    assert Image.open(io.BytesIO(data)).size == (64, 64)
    image = client.get(f"/api/images/{events[-1][1]['image_ids'][0]}").json()
    assert image["model"] == "builtin" and "Steps: 12" in image["parameters"]


@pytest.mark.stepped
def test_img2img_job_from_an_upload_and_from_a_gallery_image(client: TestClient) -> None:
    init = png_bytes(64, 64, (220, 40, 40))
    body = {"kind": "img2img", "prompt": "a red circle", "model": "builtin", "steps": 10}
    job = client.post("/api/jobs", json={**body, "init_image": b64(init), "strength": 0.5})
    assert job.status_code == 201, job.text
    done = wait_for(client, job.json()["id"])
    assert done["state"] == "done", done
    image = client.get(f"/api/images/{done['image_ids'][0]}").json()
    assert "Denoising strength: 0.5" in image["parameters"]
    # The record names the input inside the data folder, never a server path.
    assert image["request"]["init_image"].startswith("inputs/")
    meta = read_metadata(Image.open(io.BytesIO(client.get(image["download_url"]).content)))
    assert meta.record["request"]["init_image"] == image["request"]["init_image"]

    again = client.post("/api/jobs", json={**body, "init_image_id": image["id"]}).json()
    assert wait_for(client, again["id"])["state"] == "done"


def test_a1111_img2img_with_the_builtin_model(client: TestClient) -> None:
    body = {
        "prompt": "a blue square",
        "init_images": ["data:image/png;base64," + b64(png_bytes(64, 64, (30, 30, 200)))],
        "denoising_strength": 0.6,
        "steps": 10,
        "seed": 5,
        "sampler_name": "DPM++ 2M",
        "override_settings": {"sd_model_checkpoint": "builtin"},
    }
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    info = json.loads(answer["info"])
    assert info["denoising_strength"] == 0.6 and info["sd_model_name"] == "builtin"
    assert answer["parameters"]["init_images"] is None  # not echoed back, as A1111
    image = Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))
    assert "Denoising strength: 0.6" in image.info["parameters"]


@pytest.mark.stepped
def test_cancel_stops_denoising_midway(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"kind": "generate", "prompt": "a star", "model": "builtin", "steps": 200}
    job = client.post("/api/jobs", json=body).json()
    cancelled = cancel_at_step(monkeypatch, client, job["id"], step=2)
    ended = wait_for(client, job["id"])
    assert cancelled == [200]
    assert ended["state"] == "cancelled" and ended["image_ids"] == []
    assert ended["progress"] < 0.5  # stopped long before its 200 steps


def test_img2img_job_with_mask_options(client: TestClient) -> None:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    body = {
        "kind": "img2img", "prompt": "a red circle", "model": "builtin", "steps": 4, "seed": 2,
        "init_image": b64(png_bytes(64, 64, (30, 30, 200))), "mask": b64(buffer.getvalue()),
        "strength": 1.0, "mask_invert": True, "mask_blur": 2, "inpaint_fill": "latent noise",
    }  # fmt: skip
    job = client.post("/api/jobs", json=body)
    assert job.status_code == 201, job.text
    done = wait_for(client, job.json()["id"], timeout=120)
    assert done["state"] == "done", done
    image = client.get(f"/api/images/{done['image_ids'][0]}").json()
    assert image["request"]["mask_invert"] is True
    for key in ("Mask mode: Inpaint not masked", "Mask blur: 2", "Masked content: latent noise"):
        assert key in image["parameters"]
    data = client.get(image["download_url"]).content
    pixels = Image.open(io.BytesIO(data)).convert("RGB")
    assert pixels.getpixel((2, 10)) == (30, 30, 200)  # the mask's white half is kept
    bad = client.post("/api/jobs", json={**body, "inpaint_fill": "smear"})
    assert bad.status_code == 422 and "inpaint_fill" in bad.text
    unmasked = {k: v for k, v in body.items() if k != "mask"}
    refused = client.post("/api/jobs", json=unmasked)
    assert refused.status_code == 422 and "only with a mask" in refused.text
