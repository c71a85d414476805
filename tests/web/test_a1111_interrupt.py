"""An interrupted txt2img answers, as A1111 does, with what it had made so far."""

from __future__ import annotations

import base64
import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, client: TestClient, step: int) -> list[int]:
    """POST /sdapi/v1/interrupt from inside the running job as it reports `step`, so
    the interrupt lands mid-job however fast the machine is."""
    from genlab.web.worker import RunContext

    report = RunContext.step
    sent: list[int] = []

    def step_then_interrupt(context: RunContext, now: int, total: int, iteration: int = 0):
        report(context, now, total, iteration)
        if now >= step and not sent:
            sent.append(client.post("/sdapi/v1/interrupt").status_code)

    monkeypatch.setattr(RunContext, "step", step_then_interrupt)
    return sent


def test_interrupted_txt2img_returns_the_images_made_so_far(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _interrupt_at(monkeypatch, client, step=2)
    body = {"prompt": "a red circle", "seed": 40, "batch_size": 4, "width": 32, "height": 32}
    answer = client.post("/sdapi/v1/txt2img", json=body)
    assert sent == [200] and answer.status_code == 200, answer.text
    # Shapes World draws one image a step: the job stopped at step 3, with 3 drawn.
    images = [Image.open(io.BytesIO(base64.b64decode(t))) for t in answer.json()["images"]]
    assert [image.size for image in images] == [(32, 32)] * 3
    info = json.loads(answer.json()["info"])
    assert info["interrupted"] is True and info["all_seeds"] == [40, 41, 42]
    assert "Interrupted: at step 3 of 4" in info["infotexts"][0]
    assert images[0].info["parameters"] == info["infotexts"][0]
    # Nothing of a cancelled job is kept in the gallery.
    assert client.get("/api/images").json()["total"] == 0


def test_interrupt_in_a_later_iteration_keeps_the_finished_batches(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # n_iter 2 of batch 2: steps count on across iterations (3 is the second's first).
    sent = _interrupt_at(monkeypatch, client, step=3)
    body = {"prompt": "a blue square", "seed": 7, "batch_size": 2, "n_iter": 2}
    answer = client.post("/sdapi/v1/txt2img", json=body).json()
    assert sent == [200]
    info = json.loads(answer["info"])
    assert info["all_seeds"] == [7, 8, 9, 10] and len(answer["images"]) == 4
    assert "Interrupted" not in info["infotexts"][0]
    assert "Interrupted: at step 2 of 2" in info["infotexts"][3]


def test_interrupt_without_images_sends_none(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_at(monkeypatch, client, step=1)
    body = {"prompt": "a star", "batch_size": 2, "send_images": False}
    answer = client.post("/sdapi/v1/txt2img", json=body).json()
    assert answer["images"] == [] and json.loads(answer["info"])["interrupted"] is True


def test_a_partial_too_large_to_relay_still_relays_the_cancel() -> None:
    import socket

    from genlab.web.bridge import MAX_LINE_BYTES, _Peer

    left, right = socket.socketpair()
    with left, right:
        message = {"event": "cancelled", "job_id": 3, "partial": ["x" * MAX_LINE_BYTES]}
        assert _Peer(left).send(message)
        line = right.makefile("rb").readline()
    assert json.loads(line) == {"event": "cancelled", "job_id": 3}
