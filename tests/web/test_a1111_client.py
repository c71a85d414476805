"""A stock A1111 client (webuiapi, from PyPI) against the studio, unchanged: its
requests go through a requests adapter into the app, exactly as it would send them
over HTTP, so no port or network is used."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

webuiapi = pytest.importorskip("webuiapi")
requests = pytest.importorskip("requests")


class IntoApp(requests.adapters.BaseAdapter):
    """A requests transport that hands each request to the app's TestClient."""

    def __init__(self, client: TestClient):
        super().__init__()
        self.client = client

    def send(self, request, **_kwargs):
        url = urlsplit(request.url)
        answer = self.client.request(
            request.method,
            url.path + (f"?{url.query}" if url.query else ""),
            content=request.body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = requests.structures.CaseInsensitiveDict(answer.headers)
        response.url, response.request, response.encoding = request.url, request, "utf-8"
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def api(client: TestClient):
    found = webuiapi.WebUIApi(host="testserver", port=7860)
    found.session.mount("http://", IntoApp(client))
    return found


def test_txt2img_with_styles_and_options_read_modify_write(api) -> None:
    options = api.get_options()
    options["samples_format"] = "webp"
    options["CLIP_stop_at_last_layers"] = 2
    api.set_options(options)
    assert api.get_options()["samples_format"] == "webp"
    styles = {s["name"] for s in api.get_prompt_styles()}
    assert "lighting: soft light" in styles
    result = api.txt2img(
        prompt="a red circle",
        styles=["colour: blue background"],
        seed=9,
        width=64,
        height=64,
        batch_size=2,
    )
    assert len(result.images) == 2 and result.images[0].format == "WEBP"
    assert result.info["prompt"] == "a red circle, blue background"
    assert result.info["all_seeds"] == [9, 10] and result.info["styles"] == [
        "colour: blue background"
    ]


def test_extras_upscaling_and_png_info(api) -> None:
    names = [u["name"] for u in api.get_upscalers()]
    result = api.extra_single_image(
        image=Image.new("RGB", (16, 16), (200, 10, 10)), upscaler_1=names[0], upscaling_resize=2
    )
    assert result.image.size == (32, 32)
    made = api.txt2img(prompt="a star", seed=3, width=32, height=32)
    info = api.png_info(made.image)
    assert info.info.startswith("a star") and "Seed: 3" in info.info


def test_refusals_reach_the_client_as_one_line(api) -> None:
    with pytest.raises(RuntimeError) as raised:
        api.extra_single_image(image=Image.new("RGB", (8, 8)), gfpgan_visibility=1)
    status, text = raised.value.args
    assert status == 422 and "face restoration" in json.loads(text)["detail"]
