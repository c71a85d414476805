"""The Generate form's inpainting: a mask upload and A1111's mask options, on the
shipped model."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.web.conftest import png_bytes, wait_for
from tests.web.test_pages import Forms, post

pytestmark = pytest.mark.slow


def test_the_form_uploads_a_mask_with_its_options(client: TestClient) -> None:
    form = Forms(client.get("/").text).by_id("generate-form")
    assert {"mask_blur", "inpaint_fill", "inpaint_padding"} <= set(form)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    files = {
        "init_image": ("init.png", png_bytes(64, 64, (30, 30, 200)), "image/png"),
        "mask": ("mask.png", buffer.getvalue(), "image/png"),
    }
    fields = {
        "prompt": "a red circle", "model": "builtin", "steps": "4", "seed": "2",
        "strength": "1", "mask_blur": "2", "inpaint_fill": "latent nothing",
        "mask_invert": "on", "inpaint_padding": "8",
    }  # fmt: skip
    response = post(client, "/generate", fields, files=files)
    assert response.status_code == 303, response.text
    job = wait_for(client, int(response.headers["location"].rsplit("/", 1)[1]), timeout=120)
    assert job["state"] == "done", job
    image = client.get(f"/api/images/{job['image_ids'][0]}").json()
    request = image["request"]
    assert request["mask"].startswith("inputs/") and request["mask_invert"] is True
    assert request["inpaint_fill"] == "latent nothing" and request["mask_blur"] == 2
    assert not request["inpaint_only_masked"]
    assert "Mask mode: Inpaint not masked" in image["parameters"]


def test_mask_options_without_a_mask_are_left_out(client: TestClient) -> None:
    files = {"init_image": ("init.png", png_bytes(64, 64), "image/png")}
    fields = {"prompt": "a star", "mask_blur": "4", "mask_invert": "on"}
    response = post(client, "/generate", fields, files=files)
    assert response.status_code == 303, response.text
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    request = client.get(f"/api/jobs/{job_id}").json()["request"]["request"]
    assert request["mask"] is None and request["mask_blur"] == 0 and not request["mask_invert"]
