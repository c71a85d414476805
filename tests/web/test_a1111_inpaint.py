"""A1111 img2img with a mask on the built-in model: its UNet has 8 latent channels,
which diffusers' inpainting pipeline refuses; genlab blends instead (engines/inpaint.py)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from genlab.services.generation import EngineCache
from genlab.web.app import create_app
from genlab.web.settings import Settings
from tests.web.conftest import b64, png_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data"), engines=EngineCache())
    with TestClient(app) as c:
        yield c


def test_masked_img2img_on_the_builtin_model_repaints_only_the_mask(client: TestClient):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (32, 0, 64, 64))  # the right half
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    body = {
        "prompt": "a large yellow star",
        "init_images": [b64(png_bytes(64, 64, (30, 30, 200)))],
        "mask": b64(buffer.getvalue()),
        "denoising_strength": 1.0,
        "steps": 6,
        "seed": 3,
        "override_settings": {"sd_model_checkpoint": "builtin"},
    }
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0])))
    pixels = np.asarray(image.convert("RGB"), np.int16)
    assert (pixels[:, :32] == (30, 30, 200)).all()  # outside the mask: the upload
    assert np.abs(pixels[:, 32:] - (30, 30, 200)).mean() > 10  # inside: drawn anew
