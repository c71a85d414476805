"""The stock A1111 client on the built-in diffusion model: img2img with a mask, and an
interrupt answered with the image decoded from the latents at that step. Slow (the
model loads on a CPU), so one load serves the file."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from genlab.services.generation import EngineCache
from genlab.web.app import create_app
from genlab.web.settings import Settings
from tests.web.test_a1111_client import IntoApp

webuiapi = pytest.importorskip("webuiapi")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engines() -> EngineCache:
    return EngineCache()


@pytest.fixture
def client(tmp_path: Path, engines: EngineCache) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"), engines=engines)) as c:
        yield c


def test_img2img_with_a_mask_through_webuiapi(client: TestClient) -> None:
    # webuiapi defaults to "Euler a", which the flow-matching built-in model refuses.
    api = webuiapi.WebUIApi(host="testserver", port=7860, sampler="DPM++ 2M", steps=4)
    api.session.mount("http://", IntoApp(client))
    options = api.get_options()
    options["sd_model_checkpoint"] = "builtin"
    api.set_options(options)
    init = Image.new("RGB", (64, 64), (30, 30, 200))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    result = api.img2img(
        images=[init],
        mask_image=mask,
        prompt="a red circle",
        seed=4,
        denoising_strength=0.8,
        width=64,  # webuiapi sends 512x512 unless told
        height=64,
    )
    assert len(result.images) == 1 and result.images[0].size == (64, 64)
    assert result.info["sd_model_name"] and result.info["all_seeds"] == [4]
    corner = result.images[0].convert("RGB").getpixel((2, 2))
    assert max(abs(a - b) for a, b in zip(corner, (30, 30, 200), strict=True)) < 40


def test_interrupt_answers_with_the_latents_decoded(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genlab.web.worker import RunContext

    report = RunContext.step
    sent: list[int] = []

    def step_then_interrupt(context: RunContext, now: int, total: int, iteration: int = 0):
        report(context, now, total, iteration)
        if now >= 2 and not sent:
            sent.append(client.post("/sdapi/v1/interrupt").status_code)

    monkeypatch.setattr(RunContext, "step", step_then_interrupt)
    body = {"prompt": "a star", "steps": 50, "seed": 8, "width": 64, "height": 64}
    body["override_settings"] = {"sd_model_checkpoint": "builtin"}
    answer = client.post("/sdapi/v1/txt2img", json=body).json()
    assert sent == [200]
    [encoded] = answer["images"]
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert image.size == (64, 64)
    info = json.loads(answer["info"])
    assert info["interrupted"] and "Interrupted: at step 3 of 50" in info["infotexts"][0]
