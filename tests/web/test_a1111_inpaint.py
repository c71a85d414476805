"""A1111 img2img with a mask on the built-in model: its UNet has 8 latent channels,
which diffusers' inpainting pipeline refuses; genlab blends instead (engines/inpaint.py)."""

from __future__ import annotations

import base64
import io
import json
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
    # Outside the mask and A1111's default blur of 4 pixels (3 sigma, doubled): the upload.
    assert (pixels[:, :16] == (30, 30, 200)).all()
    assert np.abs(pixels[:, 32:] - (30, 30, 200)).mean() > 10  # inside: drawn anew


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return b64(buffer.getvalue())


def _inpaint(client: TestClient, mask_box, init: Image.Image | None = None, **options):
    """The image A1111's img2img answers for a mask over `mask_box`, and its infotext."""
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, mask_box)
    body = {
        "prompt": "a large yellow star",
        "init_images": [_png(init or Image.new("RGB", (64, 64), (30, 30, 200)))],
        "mask": _png(mask),
        "denoising_strength": 1.0,
        "steps": 4,
        "seed": 3,
        "override_settings": {"sd_model_checkpoint": "builtin"},
        **options,
    }
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    image = Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))
    return np.asarray(image.convert("RGB"), np.int16), json.loads(answer["info"])["infotexts"][0]


def test_a1111_mask_options_take_effect(client: TestClient):
    blue = (30, 30, 200)
    # A1111's API defaults: blur 4, "fill", only masked (padding 0).
    _, text = _inpaint(client, (32, 0, 64, 64))
    assert "Mask blur: 4" in text and "Masked content: fill" in text
    assert "Inpaint area: Only masked" in text and "Masked area padding: 0" in text

    plain = {"mask_blur": 0, "inpainting_fill": 1, "inpaint_full_res": False}
    inverted, text = _inpaint(client, (32, 0, 64, 64), inpainting_mask_invert=1, **plain)
    assert (inverted[:, 32:] == blue).all() and np.abs(inverted[:, :32] - blue).mean() > 10
    assert "Mask mode: Inpaint not masked" in text and "Mask blur" not in text

    two_colours = Image.new("RGB", (64, 64), blue)
    two_colours.paste((220, 30, 30), (0, 0, 32, 64))
    strength = {**plain, "denoising_strength": 0.6}
    original, _ = _inpaint(client, (0, 0, 32, 64), two_colours, **strength)
    nothing, text = _inpaint(
        client, (0, 0, 32, 64), two_colours, **{**strength, "inpainting_fill": 3}
    )
    assert np.abs(original - nothing).mean() > 1 and "Masked content: latent nothing" in text

    boxed, _ = _inpaint(
        client, (24, 24, 40, 40), mask_blur=0, inpaint_full_res=True, inpaint_full_res_padding=4
    )
    outside = np.ones((64, 64), bool)
    outside[20:44, 20:44] = False
    assert (boxed[outside] == blue).all() and np.abs(boxed[24:40, 24:40] - blue).mean() > 10


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ({"inpainting_fill": 4}, "inpainting_fill"),
        ({"inpainting_mask_invert": 2}, "inpainting_mask_invert"),
        ({"mask_blur_x": 2}, "mask_blur_x"),
        ({"mask_blur": -1}, "mask_blur"),
    ],
)
def test_bad_a1111_mask_options_are_422(client: TestClient, option, field):
    mask = _png(Image.new("L", (64, 64), 255))
    body = {"prompt": "x", "init_images": [mask], "mask": mask, **option}
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 422 and field in response.text
