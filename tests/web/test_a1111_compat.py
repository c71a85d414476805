"""docs/a1111-compatibility.md against the server: the routes it lists are the routes
there are, the options and extras fields match the code, and every payload field it
lists, posted with good and hostile values, never gets a 5xx."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.web.a1111_options import OPTIONS
from genlab.web.routes.a1111_extras import ExtrasBatchImagesRequest, ExtrasSingleImageRequest
from tests.web.conftest import b64, png_bytes

PAGE = Path(__file__).resolve().parents[2] / "docs" / "a1111-compatibility.md"
STATUSES = {"honoured", "mapped", "empty", "refused", "not applicable", "absent"}
_ROW = re.compile(r"^\| `([^`]+)` \| ([a-z ]+) \|", re.M)


def _section(title: str) -> list[tuple[str, str]]:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return _ROW.findall(text[start : end if end != -1 else None])


def _routes(client: TestClient) -> set[str]:
    paths = client.get("/openapi.json").json()["paths"]
    return {
        f"{method.upper()} {path}"
        for path, methods in paths.items()
        if path.startswith("/sdapi/")
        for method in methods
    }


def test_the_page_lists_exactly_the_servers_a1111_routes(client: TestClient) -> None:
    rows = _section("Routes")
    assert {status for _, status in rows} <= STATUSES
    listed = {route for route, status in rows if status != "absent"}
    absent = {route for route, status in rows if status == "absent"}
    served = _routes(client)
    assert listed - served == set(), "listed on the page, missing from the server"
    assert served - listed == set(), "served, missing from the page"
    assert absent & served == set(), "listed as absent, but served"
    for route in absent:
        method, path = route.split(" ", 1)
        assert client.request(method, path).status_code == 404, route


def test_the_page_lists_every_option_and_extras_field() -> None:
    options = dict(_section("Options"))
    assert set(options) == set(OPTIONS)
    assert all(options[name] == spec.kind for name, spec in OPTIONS.items())
    extras = {name for name, _ in _section("Extras")}
    fields = set(ExtrasSingleImageRequest.model_fields) | set(ExtrasBatchImagesRequest.model_fields)
    assert extras == fields


# Good values per field; the test fails when the page lists a field without one here.
VALID: dict[str, list[object]] = {
    "prompt": ["a red circle", "(red:1.3) circle BREAK [blue|green]"],
    "negative_prompt": ["blurry"],
    "styles": [["lighting: soft light"]],
    "seed": [-1, 0, 2**32 - 1],
    "subseed": [-1, 5],
    "subseed_strength": [0],
    "seed_resize_from_h": [-1, 0],
    "seed_resize_from_w": [-1, 0],
    "sampler_name": ["Euler a", "DPM++ 2M Karras", "k_euler"],
    "sampler_index": ["Euler"],
    "scheduler": ["Karras", "sgm_uniform"],
    "batch_size": [1, 2],
    "n_iter": [1, 2],
    "steps": [1, 20],
    "cfg_scale": [1.5, 7],
    "width": [32, 64],
    "height": [32, 64],
    "restore_faces": [False],
    "tiling": [False, True],
    "do_not_save_samples": [True],
    "do_not_save_grid": [True],
    "eta": [None, 1.0],
    "denoising_strength": [0.5],
    "s_min_uncond": [0],
    "s_churn": [0],
    "s_tmax": [None, 0],
    "s_tmin": [0],
    "s_noise": [1],
    "override_settings": [{"samples_format": "webp"}, {"CLIP_stop_at_last_layers": 2}],
    "override_settings_restore_afterwards": [True, False],
    "refiner_checkpoint": [None, ""],
    "refiner_switch_at": [None],
    "disable_extra_networks": [True],
    "firstpass_image": [None],
    "comments": [{"note": "x"}],
    "enable_hr": [False, True],
    "firstphase_width": [0],
    "firstphase_height": [0],
    "hr_scale": [2],
    "hr_upscaler": ["Latent", "lanczos"],
    "hr_second_pass_steps": [0, 2],
    "hr_resize_x": [0],
    "hr_resize_y": [0],
    "force_task_id": ["task-1"],
    "script_name": [None, ""],
    "script_args": [[]],
    "alwayson_scripts": [{}],
    "infotext": [None],
    "send_images": [True, False],
    "save_images": [True],
    "init_images": [[b64(png_bytes(32, 32))]],
    "resize_mode": [0],
    "image_cfg_scale": [1.5],
    "mask": [b64(png_bytes(32, 32, (255, 255, 255)))],
    "mask_blur": [0, 4],
    "mask_blur_x": [4],
    "mask_blur_y": [4],
    "mask_round": [True, False],
    "inpainting_fill": [0, 3],
    "inpaint_full_res": [True, False],
    "inpaint_full_res_padding": [0, 32],
    "inpainting_mask_invert": [0, 1],
    "initial_noise_multiplier": [1],
    "latent_mask": [None],
    "include_init_images": [True],
}
IMG2IMG_ONLY = {
    *("init_images", "resize_mode", "image_cfg_scale", "mask", "mask_blur", "mask_blur_x"),
    *("mask_blur_y", "mask_round", "inpainting_fill", "inpaint_full_res"),
    *("inpaint_full_res_padding", "inpainting_mask_invert", "initial_noise_multiplier"),
    *("latent_mask", "include_init_images"),
}
# What a hostile client sends to every field: wrong types, huge and odd numbers,
# text that does not encode, deep structures, paths outside any folder.
HOSTILE: list[object] = [
    None,
    2**70,
    -(2**70),
    -1,
    math.inf,
    math.nan,
    "\ud800",
    "../../etc/passwd",
    "x" * 100_000,
    [],
    [[[[["deep"]]]]],
    {"a": {"b": 1}},
    True,
]


def _post(client: TestClient, route: str, body: dict) -> int:
    # json.dumps escapes lone surrogates and writes NaN/Infinity, as hostile clients do.
    content = json.dumps(body)
    headers = {"content-type": "application/json"}
    return client.post(route, content=content, headers=headers).status_code


def _fields() -> list[tuple[str, str]]:
    return _section("txt2img and img2img fields")


def test_every_listed_field_has_sample_values() -> None:
    fields = {name for name, _ in _fields()}
    assert fields == set(VALID)
    assert {status for _, status in _fields()} <= STATUSES - {"absent", "empty"}


@pytest.mark.parametrize("field", sorted(VALID))
def test_no_value_of_any_field_is_a_server_error(client: TestClient, field: str) -> None:
    img2img = field in IMG2IMG_ONLY
    route = "/sdapi/v1/img2img" if img2img else "/sdapi/v1/txt2img"
    base: dict[str, object] = {"prompt": "a red circle", "width": 32, "height": 32}
    if img2img and field != "init_images":
        base["init_images"] = VALID["init_images"][0]
    statuses = {}
    for value in [*VALID[field], *HOSTILE]:
        statuses[repr(value)[:40]] = _post(client, route, {**base, field: value})
    assert all(status < 500 for status in statuses.values()), statuses
    status = dict(_fields())[field]
    if status == "refused":
        # What the page says is refused is refused: a non-neutral value is a 422.
        assert statuses[repr(2**70)[:40]] == 422, statuses


@pytest.mark.parametrize("depth", [40, 300, 900])
def test_deeply_nested_values_are_refused_not_a_server_error(
    client: TestClient, depth: int
) -> None:
    deep = "[" * depth + "]" * depth
    headers = {"content-type": "application/json"}
    bodies = {
        "/sdapi/v1/options": f'{{"x": {deep}}}',
        "/sdapi/v1/txt2img": f'{{"prompt": "x", "comments": {deep}}}',
        "/sdapi/v1/img2img": f'{{"prompt": "x", "override_settings": {{"y": {deep}}}}}',
    }
    for route, body in bodies.items():
        answer = client.post(route, content=body, headers=headers)
        assert answer.status_code == 422, (route, answer.text)
    assert client.get("/sdapi/v1/options").status_code == 200


@pytest.mark.parametrize("field", sorted({*ExtrasSingleImageRequest.model_fields, "imageList"}))
def test_no_extras_value_is_a_server_error(client: TestClient, field: str) -> None:
    image = b64(png_bytes(8, 8))
    routes = {
        "/sdapi/v1/extra-single-image": {"image": image, "upscaler_1": "lanczos"},
        "/sdapi/v1/extra-batch-images": {
            "imageList": [{"data": image, "name": "a.png"}],
            "upscaler_1": "lanczos",
        },
    }
    for route, base in routes.items():
        for value in HOSTILE:
            status = _post(client, route, {**base, field: value})
            assert status < 500, (route, field, repr(value)[:40])


def test_no_styles_import_is_a_server_error(client: TestClient) -> None:
    many = "name,prompt\n" + "".join(f"n{i},p\n" for i in range(1200))
    for text in [*HOSTILE, "name,prompt\n\ud800,x\n", many, "name,prompt\na," + "x" * 200_000]:
        assert _post(client, "/api/styles", {"csv": text}) < 500, repr(text)[:40]
        replace = {"csv": "name,prompt\na,b\n", "replace": text}
        assert _post(client, "/api/styles", replace) < 500, repr(text)[:40]
    for name in ("%ED%A0%80", "%2e%2e", "x" * 5000, "%00"):
        assert client.delete(f"/api/styles/{name}").status_code == 404
