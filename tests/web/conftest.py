"""Fixtures for the studio: a TestClient over a fresh data folder, and helpers.

The procedural engine makes images in milliseconds, so whole job lifecycles run in
a test; the built-in diffusion model is used where real denoising steps matter.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.web.app import create_app
from genlab.web.settings import Settings

FINISHED = ("done", "failed", "cancelled")


@pytest.fixture(autouse=True)
def testserver_is_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starlette's TestClient sends `Host: testserver`; a server without a token only
    answers to loopback names, so tests count that name as one (as Django's test
    runner adds it to ALLOWED_HOSTS)."""
    from genlab.web import security

    monkeypatch.setattr(security, "LOOPBACK_NAMES", security.LOOPBACK_NAMES | {"testserver"})


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Model hashes are cached under XDG_CACHE_HOME; keep the user's cache untouched.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def wait_for(client: TestClient, job_id: int, states=FINISHED, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout}s")
        time.sleep(0.02)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(0.01)


def generate(client: TestClient, prompt: str = "a red circle", **fields) -> dict:
    response = client.post("/api/jobs", json={"kind": "generate", "prompt": prompt, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def generate_done(client: TestClient, prompt: str = "a red circle", **fields) -> dict:
    job = wait_for(client, generate(client, prompt, **fields)["id"])
    assert job["state"] == "done", job
    return job


def blocker(client: TestClient) -> dict:
    """A procedural job big enough (64 images of 512 px, about a second per dozen
    here) to still be running while a test queues, watches or cancels others."""
    return generate(client, "many small stars", width=512, height=512, batch_size=64, seed=1)


def png_bytes(width: int = 32, height: int = 32, colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
