"""Style and sweep jobs: the same services as `genlab style` and `genlab sweep`, queued,
watched, cancelled and resumed like every job.

Sweeps run on the procedural engine (milliseconds a cell). Style jobs run the real
VGG-19 architecture with random filters: the fallback that is taken, and named, when
torchvision's weights are not on disk (TORCH_HOME points at an empty folder here).
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import inspect, text

from genlab.web import jobs
from genlab.web.app import create_app
from genlab.web.db import alembic_config, make_engine, upgrade
from genlab.web.models import IMAGE_ROLES
from genlab.web.settings import Settings
from genlab.web.studio import Studio
from tests.web.conftest import (
    HANG_GUARD,
    b64,
    blocker,
    cancel_at_step,
    generate_done,
    hold_at_step,
    sha256,
    wait_for,
)


@pytest.fixture(autouse=True)
def no_vgg_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def events(client: TestClient, job_id: int, on_event: Callable[[str, dict], None]) -> list:
    """Every SSE event of a job as (name, data), calling on_event as each arrives."""
    seen = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                seen.append((name, data))
                on_event(name, data)
    return seen


def post(client: TestClient, body: dict) -> dict:
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def stripes(size: int = 48) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size]
    band = ((xx + yy) // 3) % 2
    return Image.fromarray(
        np.where(band[..., None] == 1, [230, 30, 40], [20, 60, 220]).astype(np.uint8)
    )


# -- sweeps ------------------------------------------------------------------------------

COLOURS = ("red", "blue", "green", "pink", "black", "white", "grey", "gold", "teal", "tan")
COLOURS += ("lime", "plum", "navy")
SWEEP = {"kind": "sweep", "prompt": "a red circle", "width": 64, "height": 64, "seed": 10}


@pytest.mark.stepped
def test_a_sweep_makes_every_cell_and_its_contact_sheet(
    client: TestClient, settings: Settings
) -> None:
    job = wait_for(client, post(client, {**SWEEP, "x": "seed=1-3", "y": "sr=red,blue"})["id"])
    assert job["state"] == "done", job
    assert job["request"]["shape"] == [3, 2, 1] and job["request"]["cells"] == 6
    assert job["request"]["axes"][1]["labels"] == ["red", "blue"]
    assert len(job["image_ids"]) == 7 and len(job["sheet_ids"]) == 1
    cells = {c["index"]: c for c in job["cells"]}
    assert sorted(cells) == list(range(6))
    assert cells[4]["position"] == [1, 1, 0]
    images = {c["index"]: client.get(f"/api/images/{c['image_id']}").json() for c in cells.values()}
    assert [images[i]["seed"] for i in range(3)] == [1, 2, 3]
    assert "blue circle" in images[4]["prompt"] and "red circle" in images[1]["prompt"]
    assert all(images[i]["role"] == "image" and images[i]["sweep_cell"] == i for i in images)
    assert all(images[i]["url"] == cells[i]["url"] for i in images)
    sheet = client.get(f"/api/images/{job['sheet_ids'][0]}").json()
    assert sheet["role"] == "sheet" and sheet["sweep_cell"] is None
    assert sheet["width"] > 3 * 64 and sheet["height"] > 2 * 64  # cells plus labels
    assert "Seed: 1" in sheet["parameters"]  # as A1111's grids: the first image's text
    assert (sheet["seed"], sheet["model"]) == (images[0]["seed"], images[0]["model"])
    listed = client.get("/api/images", params={"q": "blue"}).json()["items"]
    assert {i["id"] for i in listed} == {images[i]["id"] for i in (3, 4, 5)}
    # The gallery can hide contact sheets, or show only them.
    only = {role: client.get("/api/images", params={"role": role}).json() for role in IMAGE_ROLES}
    assert [i["id"] for i in only["sheet"]["items"]] == job["sheet_ids"]
    assert {i["id"] for i in only["image"]["items"]} == {images[i]["id"] for i in range(6)}
    assert client.get("/api/images", params={"role": "grid"}).status_code == 422
    page = client.get("/gallery", params={"role": "sheet"}).text
    assert page.count('class="card"') == 1 and '<option value="sheet" selected>' in page
    assert not list((settings.data_dir / "work").iterdir())  # the work folder is gone


@pytest.mark.stepped
def test_axis_tables_and_a_z_axis_make_one_sheet_per_value(client: TestClient) -> None:
    axes = {"x": {"axis": "sr", "values": ["red", "green"]}, "z": "seed=4,5"}
    job = wait_for(client, post(client, {**SWEEP, **axes})["id"])
    assert job["state"] == "done" and job["request"]["shape"] == [2, 1, 2], job
    assert len(job["sheet_ids"]) == 2 and len(job["cells"]) == 4
    z_of = {c["image_id"]: c["position"][2] for c in job["cells"]}
    seeds = {z_of[i]: client.get(f"/api/images/{i}").json()["seed"] for i in z_of}
    assert seeds == {0: 4, 1: 5}
    sheets = [client.get(f"/api/images/{i}").json() for i in job["sheet_ids"]]
    assert [sheet["seed"] for sheet in sheets] == [4, 5]


@pytest.mark.stepped
def test_a_random_seed_is_fixed_when_the_sweep_is_queued(client: TestClient) -> None:
    job = wait_for(client, post(client, {**SWEEP, "seed": -1, "x": "sr=red,blue"})["id"])
    seed = job["request"]["definition"]["fields"]["seed"]
    assert 0 <= seed < 2**32
    ids = [c["image_id"] for c in job["cells"]]
    assert {client.get(f"/api/images/{i}").json()["seed"] for i in ids} == {seed}


def test_cells_are_announced_as_events_as_they_are_made(client: TestClient) -> None:
    first = blocker(client)  # holds the sweep in the queue until the stream is open
    job = post(client, {**SWEEP, "x": "seed=1-4", "y": "sr=red,blue"})

    def on_event(name: str, _data: dict) -> None:
        if name == "state":
            client.post(f"/api/jobs/{first['id']}/cancel")

    seen = events(client, job["id"], on_event)
    cells = [d for n, d in seen if n == "cell"]
    assert sorted(d["index"] for d in cells) == list(range(8))
    assert [d["step"] for d in cells] == list(range(1, 9)) and cells[0]["total"] == 8
    assert cells[5]["labels"] == ["2", "blue", ""] and cells[5]["position"] == [1, 1, 0]
    assert seen[-1][0] == "done" and len(seen[-1][1]["image_ids"]) == 9


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"x": "nope=1,2"}, "axis X"),
        ({"x": "seed=1-300"}, "at most 256 images"),
        ({"x": "seed=1-20", "y": "sr=" + ",".join(COLOURS)}, "cells=260"),
        ({"x": "seed=1,2", "y": "seed=3,4"}, "already varies"),
        ({"y": {"axis": "seed"}}, "at least one value"),
        ({"x": "sr=purple,blue"}, "purple"),
        ({"model": "/etc/passwd"}, "model"),
        ({"x": "model=procedural,/etc/passwd"}, "model"),
        ({"width": 100}, "width"),
        ({"batch_size": 2}, "batch_size"),
        ({"prompt": None}, "prompt"),
    ],
)
def test_bad_sweeps_are_refused_with_one_line_naming_the_problem(
    client: TestClient, fields: dict, named: str
) -> None:
    body = {k: v for k, v in {**SWEEP, "x": "seed=1,2", **fields}.items() if v is not None}
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and named in detail
    assert client.get("/api/jobs").json()["count"] == 0


def test_a_running_sweep_shows_its_cells_and_a_cancel_keeps_nothing(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = blocker(client)  # holds the sweep in the queue until it is held at cell 2
    big = {**SWEEP, "x": "seed=1-16", "y": "sr=red,blue,green"}
    job = post(client, big)
    held = hold_at_step(monkeypatch, job["id"], step=2)
    client.post(f"/api/jobs/{queued['id']}/cancel")
    assert held.wait(HANG_GUARD), "the sweep never reached its second cell"
    assert len(client.get(f"/api/jobs/{job['id']}").json()["cells"]) == 2
    # Mid-run, a page sees the cells made so far, their files already complete.
    running = client.get(f"/api/jobs/{job['id']}").json()
    assert running["state"] == "running" and running["image_ids"] == []
    for cell in running["cells"]:
        assert cell["image_id"] is None and client.get(cell["url"]).status_code == 200
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    ended = wait_for(client, job["id"])
    assert ended["state"] == "cancelled" and ended["image_ids"] == [] and ended["cells"] == []
    assert not list((settings.data_dir / "images").rglob("*.png"))
    assert not (settings.data_dir / "work" / f"job-{job['id']}").exists()


def test_a_stopped_sweep_resumes_from_its_work_folder(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="genlab.web.runners")
    big = {**SWEEP, "x": "seed=1-6", "y": "sr=red,blue"}
    with TestClient(create_app(settings)) as client:
        queued = blocker(client)  # holds the sweep in the queue until it is held at cell 2
        job = post(client, big)
        held = hold_at_step(monkeypatch, job["id"], step=2)
        client.post(f"/api/jobs/{queued['id']}/cancel")
        assert held.wait(HANG_GUARD), "the sweep never reached its second cell"
    # A clean stop: the job is queued again, its files gone from the store, its run kept.
    work = settings.data_dir / "work" / f"job-{job['id']}"
    with sqlite3.connect(settings.data_dir / "genlab.db") as db:
        query = "SELECT state, cells FROM jobs WHERE id = ?"
        state, cells = db.execute(query, (job["id"],)).fetchone()
    assert (state, cells) == ("queued", None)
    assert not list((settings.data_dir / "images").rglob("*.png"))
    made = list(work.rglob("0*.png"))
    assert len(made) == 2
    with TestClient(create_app(settings)) as client:
        done = wait_for(client, job["id"])
        assert done["state"] == "done" and done["attempts"] == 1
        assert sorted(c["index"] for c in done["cells"]) == list(range(12))
        rows = [client.get(f"/api/images/{i}").json() for i in done["image_ids"]]
    for row in rows:  # every row has its complete file
        assert (
            sha256((settings.data_dir / row["url"].removeprefix("/files/")).read_bytes())
            == (row["sha256"])
        )
    assert not work.exists()
    resumed = [r.getMessage() for r in caplog.records if "resumed" in r.getMessage()]
    assert resumed == [f"sweep job {job['id']} resumed: {len(made)} cells from its earlier run"]


def test_work_folders_of_finished_jobs_are_cleared_at_start(settings: Settings) -> None:
    stale = settings.data_dir / "work" / "job-41"
    stale.mkdir(parents=True)
    (stale / "00000-1.png").write_bytes(b"left by a crash")
    with TestClient(create_app(settings)):
        pass
    assert not stale.exists()


# -- style ------------------------------------------------------------------------------

STYLE = {"kind": "style", "size": 32, "scales": 1, "iterations": 4}


@pytest.fixture
def content_id(client: TestClient) -> int:
    return generate_done(client, "a yellow star", width=64, height=64, seed=3)["image_ids"][0]


@pytest.mark.stepped
def test_style_job_restyles_a_gallery_image_with_an_uploaded_style(
    client: TestClient, content_id: int
) -> None:
    body = {**STYLE, "content_image_id": content_id, "style_image": b64(png(stripes()))}
    job = wait_for(client, post(client, body)["id"])
    assert job["state"] == "done" and job["model"] == "style:vgg19", job
    source = client.get(f"/api/images/{content_id}").json()
    result = client.get(f"/api/images/{job['image_ids'][0]}").json()
    assert (result["width"], result["height"]) == (32, 32)
    assert (result["prompt"], result["seed"]) == (source["prompt"], source["seed"])
    assert "Postprocess tool: style" in result["parameters"]
    assert "Postprocess features: vgg19-random-fallback" in result["parameters"]
    assert "Postprocess style image: upload " in result["parameters"]
    assert result["sha256"] != source["sha256"]


def test_style_job_reports_evaluations_previews_and_the_fallback(
    client: TestClient, content_id: int
) -> None:
    first = blocker(client)
    body = {**STYLE, "iterations": 20, "content_image_id": content_id}
    job = post(client, {**body, "style_image_id": content_id, "seed": -1})
    assert job["request"]["config"]["seed"] >= 0  # fixed when queued

    def on_event(name: str, _data: dict) -> None:
        if name == "state":
            client.post(f"/api/jobs/{first['id']}/cancel")

    seen = events(client, job["id"], on_event)
    steps = [d["step"] for n, d in seen if n == "progress"]
    assert steps == list(range(1, 21))
    previews = [d for n, d in seen if n == "preview"]
    assert [p["step"] for p in previews] == [10, 20]
    assert previews[0]["image"].startswith("data:image/png;base64,")
    name, done = seen[-1]
    assert name == "done" and "random-filter fallback" in done["warnings"][0]
    params = client.get(f"/api/images/{done['image_ids'][0]}").json()["parameters"]
    assert f"Postprocess style image: image {content_id}" in params


@pytest.mark.stepped
def test_style_job_takes_an_uploaded_content_image(client: TestClient) -> None:
    body = {**STYLE, "content_image": b64(png(stripes(40))), "style_image": b64(png(stripes()))}
    job = wait_for(client, post(client, body)["id"])
    assert job["state"] == "done", job
    result = client.get(f"/api/images/{job['image_ids'][0]}").json()
    assert result["prompt"] == "" and result["seed"] is None
    assert (result["width"], result["height"]) == (32, 32)


@pytest.mark.parametrize(
    ("fields", "status", "named"),
    [
        ({"size": 8}, 422, "size"),
        ({"size": 4096}, 422, "size"),
        ({"optimizer": "sgd"}, 422, "optimizer"),
        ({"iterations": 6000}, 422, "iterations"),
        ({"seed": 2**40}, 422, "seed"),
        ({"strength": 2.0}, 422, "strength"),
        ({"scales": 3}, 422, "scales"),
        ({"device": "cuda"}, 422, "device"),
        ({"style_image_id": 999}, 404, "999"),
        ({"style_image_id": None}, 422, "style_image"),
        ({"style_image_id": None, "style_image": "bm90IGFuIGltYWdl"}, 422, "style_image"),
        ({"style_image_id": None, "style_image": "tiny"}, 422, "8x8"),
    ],
)
def test_bad_style_requests_are_refused_before_queueing(
    client: TestClient, content_id: int, fields: dict, status: int, named: str
) -> None:
    if fields.get("style_image") == "tiny":
        fields = {**fields, "style_image": b64(png(stripes(8)))}
    body = {**STYLE, "content_image_id": content_id, "style_image_id": content_id, **fields}
    response = client.post("/api/jobs", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and named in detail
    assert len(client.get("/api/jobs").json()["items"]) == 1  # only the content's job


@pytest.mark.stepped
def test_cancel_a_running_style_job(
    client: TestClient, content_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**STYLE, "iterations": 4000, "content_image_id": content_id}
    job = post(client, {**body, "style_image_id": content_id})
    cancelled = cancel_at_step(monkeypatch, client, job["id"], step=2)
    ended = wait_for(client, job["id"])
    assert cancelled == [200]
    assert ended["state"] == "cancelled" and ended["image_ids"] == []
    assert client.get("/api/images").json()["total"] == 1


def test_uploaded_style_inputs_survive_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        blocker(client)
        body = {**STYLE, "content_image": b64(png(stripes(40))), "style_image": b64(png(stripes()))}
        job = post(client, body)
    kept = [job["request"][k]["path"] for k in ("content_image", "style_image")]
    studio = Studio(settings)
    studio.start(worker=False)  # sweeps the store of files no row or job refers to
    studio.stop()
    assert all((settings.data_dir / path).is_file() for path in kept)


# -- the queue ---------------------------------------------------------------------------


def test_a_jobs_own_view_agrees_with_the_queue_listing(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        generate_done(client, "a circle", batch_size=4)  # history for the ETA
    studio = Studio(settings)
    studio.start(worker=False)  # nothing runs: the ETAs hold still while compared
    with studio.sessions() as session:
        user = studio.local_user_id or 0
        star = {"prompt": "a star"}
        ids = [
            jobs.create_sweep(
                session, owner_id=user, fields=star, axes={"x": f"seed={n},{n + 1}"}
            ).id
            for n in range(3)
        ]
        three = {**star, "batch_size": 3}
        ids.append(
            jobs.create_generation(session, studio.store, settings, owner_id=user, fields=three).id
        )
        listing = jobs.list_jobs(session, studio.hub, states=["queued"])
        alone = [jobs.view(session, studio.hub, i) for i in ids]
    studio.stop()
    assert [v.job.id for v in listing] == ids
    places = [(v.position, v.eta_seconds) for v in alone]
    assert places == [(v.position, v.eta_seconds) for v in listing]
    etas = [eta or 0.0 for _, eta in places]
    assert [p for p, _ in places] == [1, 2, 3, 4] and 0 < etas[0] < etas[1] < etas[2] < etas[3]
    assert etas[3] - etas[2] == pytest.approx(1.5 * etas[0])  # 3 images after 2-cell sweeps


# -- the data model ---------------------------------------------------------------------


def test_migration_0002_marks_existing_images_as_images(tmp_path: Path) -> None:
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, name, created_at) VALUES (1, 'a', '2025-01-01')")
        )
        connection.execute(
            text(
                "INSERT INTO images (id, sha256, path, width, height, prompt, negative_prompt,"
                " parameters, owner_id, created_at) VALUES"
                " (1, 'ab', 'images/ab/ab.png', 8, 8, 'x', '', '', 1, '2025-01-01')"
            )
        )
    upgrade(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT role, sweep_cell FROM images")).one()
    assert tuple(row) == ("image", None)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    columns = {c["name"] for c in inspect(engine).get_columns("images")}
    assert "role" not in columns and "sweep_cell" not in columns


def test_the_kind_table_is_the_one_list_of_kinds() -> None:
    """Each row's schema is tagged with its own kind, and POST /api/jobs, the worker and
    the pages all read the table: a new kind is one row."""
    from typing import get_args

    from genlab.web.kinds import KINDS, AnyJobCreate, runners_by_kind, title

    for name, kind in KINDS.items():
        assert get_args(kind.schema.model_fields["kind"].annotation) == (name,)
    assert get_args(AnyJobCreate) == tuple(kind.schema for kind in KINDS.values())
    assert set(runners_by_kind()) == set(KINDS)
    assert title("upscale", {"image_id": 3, "scale": 2}) == "Upscale image 3 ×2"
    assert title("a-newer-kind", {}) == "a-newer-kind"
