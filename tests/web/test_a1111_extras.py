"""/sdapi/v1/extra-single-image and /extra-batch-images with genlab's upscalers."""

from __future__ import annotations

import base64
import io

from fastapi.testclient import TestClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.web.conftest import b64, png_bytes


def _decode(text: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(text)))
    image.load()
    return image


def _with_parameters(width: int, height: int, parameters: str) -> bytes:
    info = PngInfo()
    info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_single_image_upscales_by_a_factor_and_keeps_parameters(client: TestClient) -> None:
    source = _with_parameters(16, 12, "a cat\nSteps: 20, Seed: 1, Size: 16x12")
    answer = client.post(
        "/sdapi/v1/extra-single-image",
        json={"image": b64(source), "upscaler_1": "Lanczos", "upscaling_resize": 3},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"html_info", "image"}
    image = _decode(body["image"])
    assert image.size == (48, 36)
    assert image.info["parameters"].startswith("a cat")
    assert "Postprocess upscale by: 3" in image.info["postprocessing"]
    assert "Postprocess upscaler: lanczos" in body["html_info"]


def test_espcn_to_a_size_with_crop_and_a_second_upscaler(client: TestClient) -> None:
    body = {
        "image": b64(png_bytes(16, 8)),
        "resize_mode": 1,
        "upscaling_resize_w": 40,
        "upscaling_resize_h": 40,
        "upscaling_crop": True,
        "upscaler_1": "espcn",
        "upscaler_2": "bicubic",
        "extras_upscaler_2_visibility": 0.5,
    }
    answer = client.post("/sdapi/v1/extra-single-image", json=body)
    assert answer.status_code == 200, answer.text
    assert _decode(answer.json()["image"]).size == (40, 40)
    assert "Postprocess upscaler 2: bicubic" in answer.json()["html_info"]
    uncropped = client.post(
        "/sdapi/v1/extra-single-image", json={**body, "upscaling_crop": False}
    ).json()
    assert _decode(uncropped["image"]).size == (80, 40)


def test_no_upscaler_leaves_the_image_as_it_is(client: TestClient) -> None:
    answer = client.post(
        "/sdapi/v1/extra-single-image", json={"image": b64(png_bytes(10, 10))}
    ).json()
    assert _decode(answer["image"]).size == (10, 10) and answer["html_info"] == ""


def test_batch_answers_every_image_in_order(client: TestClient) -> None:
    images = [{"data": b64(png_bytes(8 * (i + 1), 8)), "name": f"{i}.png"} for i in range(3)]
    answer = client.post(
        "/sdapi/v1/extra-batch-images",
        json={"imageList": images, "upscaler_1": "bicubic", "upscaling_resize": 2},
    )
    assert answer.status_code == 200, answer.text
    sizes = [_decode(text).size for text in answer.json()["images"]]
    assert sizes == [(16, 16), (32, 16), (48, 16)]


def test_what_cannot_be_done_is_a_one_line_422(client: TestClient) -> None:
    image = b64(png_bytes(8, 8))
    cases = {
        "gfpgan_visibility": {"gfpgan_visibility": 0.5, "upscaler_1": "lanczos"},
        "codeformer_visibility": {"codeformer_visibility": 1},
        "upscaler_1": {"upscaler_1": "R-ESRGAN 4x+"},
        "upscaler_2": {"upscaler_1": "lanczos", "upscaler_2": "../../etc/passwd"},
        "upscaling_resize": {"upscaler_1": "lanczos", "upscaling_resize": 2**70},
        "resize_mode": {"resize_mode": 7},
    }
    for field, extra in cases.items():
        answer = client.post("/sdapi/v1/extra-single-image", json={"image": image, **extra})
        assert answer.status_code == 422, (field, answer.text)
        assert field in answer.json()["detail"] and "\n" not in answer.json()["detail"]
    assert (
        "face"
        in client.post(
            "/sdapi/v1/extra-single-image", json={"image": image, "gfpgan_visibility": 1}
        ).json()["detail"]
    )
    empty = client.post("/sdapi/v1/extra-single-image", json={"image": ""})
    assert empty.status_code == 422
    garbage = client.post("/sdapi/v1/extra-single-image", json={"image": "not base64!"})
    assert garbage.status_code in (413, 422)
    none = client.post("/sdapi/v1/extra-batch-images", json={"imageList": []})
    assert none.status_code == 422


def test_an_upscale_past_the_pixel_limit_is_refused(client: TestClient, settings) -> None:
    limit = settings.max_upload_pixels
    side = int(limit**0.5) // 2 + 8  # doubled, just over the limit
    body = {"image": b64(png_bytes(side, side)), "upscaler_1": "lanczos", "upscaling_resize": 2}
    answer = client.post("/sdapi/v1/extra-single-image", json=body)
    assert answer.status_code == 422 and "pixels" in answer.json()["detail"]
