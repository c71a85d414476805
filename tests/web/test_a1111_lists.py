"""A1111's listing endpoints: the shapes A1111 clients read at start-up, what genlab
has (upscalers, memory), and empty answers for what it does not have."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

EMPTY_LISTS = (
    "latent-upscale-modes",
    "hypernetworks",
    "face-restorers",
    "realesrgan-models",
    "sd-vae",
    "loras",
    "script-info",
    "extensions",
)


def test_upscalers_are_genlabs_own_by_name_without_server_paths(client: TestClient) -> None:
    answer = client.get("/sdapi/v1/upscalers")
    assert answer.status_code == 200
    items = answer.json()
    assert {i["name"] for i in items} == {"bicubic", "lanczos", "espcn"}
    for item in items:
        assert set(item) == {"name", "model_name", "model_path", "model_url", "scale"}
        assert item["model_path"] is None and item["scale"] == 4


@pytest.mark.parametrize("route", EMPTY_LISTS)
def test_what_genlab_does_not_have_is_an_empty_list(client: TestClient, route: str) -> None:
    answer = client.get(f"/sdapi/v1/{route}")
    assert answer.status_code == 200 and answer.json() == []


def test_empty_mappings_keep_a1111s_keys(client: TestClient) -> None:
    assert client.get("/sdapi/v1/embeddings").json() == {"loaded": {}, "skipped": {}}
    assert client.get("/sdapi/v1/scripts").json() == {"txt2img": [], "img2img": []}
    for route in ("refresh-vae", "refresh-loras"):
        answer = client.post(f"/sdapi/v1/{route}")
        assert answer.status_code == 200 and answer.json() is None


def test_memory_reports_ram_and_says_why_cuda_is_absent(client: TestClient, settings) -> None:
    answer = client.get("/sdapi/v1/memory").json()
    assert set(answer) == {"ram", "cuda"}
    ram = answer["ram"]
    assert ram["total"] > 0 and 0 <= ram["free"] <= ram["total"]
    assert ram["used"] == ram["total"] - ram["free"]
    assert "error" in answer["cuda"] or "system" in answer["cuda"]
    # Nothing about where the server keeps its files.
    assert str(settings.data_dir) not in json.dumps(answer)


def test_cmd_flags_describe_this_server_without_paths(client: TestClient) -> None:
    flags = client.get("/sdapi/v1/cmd-flags").json()
    assert flags["api"] is True and flags["port"] == 7860 and flags["listen"] is False
    assert flags["data_dir"] is None and flags["ckpt_dir"] is None
    assert flags["xformers"] is False and flags["api_auth"] is None


def test_schedulers_and_modules(client: TestClient) -> None:
    schedulers = client.get("/sdapi/v1/schedulers").json()
    by_label = {s["label"]: s for s in schedulers}
    assert by_label["Karras"]["name"] == "karras"
    assert by_label["SGM Uniform"]["name"] == "sgm_uniform"
    assert client.get("/sdapi/v1/sd-modules").json() == []
    assert client.post("/sdapi/v1/refresh-embeddings").status_code == 200
