"""/api/jobs: lifecycle, queue order, one model load, cancelling, SSE, ETA, recovery."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from genlab.web.models import Job, utcnow
from genlab.web.settings import Settings
from genlab.web.studio import Studio
from tests.web.conftest import (
    FINISHED,
    blocker,
    generate,
    generate_done,
    sha256,
    wait_for,
    wait_until,
)


@pytest.mark.stepped
def test_a_job_runs_and_its_images_enter_the_gallery(client: TestClient) -> None:
    created = generate(client, "two blue squares", seed=7, batch_size=2)
    assert created["state"] == "queued" and created["model"] == "procedural"
    assert created["request"]["request"]["seed"] == 7
    job = wait_for(client, created["id"])
    assert job["state"] == "done" and job["attempts"] == 1 and job["progress"] == 1.0
    assert len(job["image_ids"]) == 2
    images = [client.get(f"/api/images/{i}").json() for i in job["image_ids"]]
    assert [image["seed"] for image in images] == [7, 8]
    assert all(image["job_id"] == job["id"] for image in images)
    assert "Seed: 7" in images[0]["parameters"]


@pytest.mark.stepped
def test_jobs_run_in_the_order_they_were_queued(client: TestClient) -> None:
    colours = ("red", "green", "blue", "yellow")
    ids = [generate(client, f"a {colour} circle", seed=n)["id"] for n, colour in enumerate(colours)]
    jobs = [wait_for(client, i) for i in ids]
    started = [datetime.fromisoformat(j["started_at"]) for j in jobs]
    assert started == sorted(started)
    assert all(j["state"] == "done" for j in jobs)


@pytest.mark.stepped
def test_a_random_seed_is_fixed_when_the_job_is_queued(client: TestClient) -> None:
    job = generate_done(client, "a star", seed=-1)
    seed = job["request"]["request"]["seed"]
    assert 0 <= seed < 2**32
    assert client.get(f"/api/images/{job['image_ids'][0]}").json()["seed"] == seed


@pytest.mark.stepped
def test_two_jobs_of_the_same_model_share_one_load(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="genlab.engines.cache")
    generate_done(client, "a red star", seed=1)
    generate_done(client, "a blue star", seed=2)
    loads = [r for r in caplog.records if r.getMessage().startswith("loaded ")]
    assert [r.getMessage().split()[1] for r in loads] == ["procedural"]


@pytest.mark.stepped
def test_n_iter_runs_batches_with_continuing_seeds(client: TestClient) -> None:
    job = generate_done(client, "a heart", seed=100, batch_size=2, n_iter=2)
    seeds = [client.get(f"/api/images/{i}").json()["seed"] for i in job["image_ids"]]
    assert seeds == [100, 101, 102, 103]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"steps": 0}, "steps"),
        ({"width": 100}, "width"),
        ({"sampler": "Nope"}, "sampler"),
        ({"model": "/etc/passwd"}, "model"),
        ({"model": "someone/some-hub-model"}, "model"),
        ({"n_iter": 99}, "n_iter"),
    ],
)
def test_bad_fields_are_refused_with_one_line_naming_them(
    client: TestClient, fields: dict, named: str
) -> None:
    response = client.post("/api/jobs", json={"kind": "generate", "prompt": "x", **fields})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and named in detail


def test_unknown_fields_and_kinds_are_refused(client: TestClient) -> None:
    response = client.post("/api/jobs", json={"kind": "generate", "prompt": "x", "init": 1})
    assert response.status_code == 422 and "init" in response.json()["detail"]
    response = client.post("/api/jobs", json={"kind": "paint", "prompt": "x"})
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)


def test_cancel_a_queued_job_at_once(client: TestClient) -> None:
    running = blocker(client)
    queued = generate(client, "a square", seed=3)
    response = client.post(f"/api/jobs/{queued['id']}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    client.post(f"/api/jobs/{running['id']}/cancel")
    wait_for(client, running["id"])
    job = client.get(f"/api/jobs/{queued['id']}").json()
    assert job["state"] == "cancelled" and job["attempts"] == 0 and job["image_ids"] == []
    again = client.post(f"/api/jobs/{queued['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_cancel_a_running_job_stops_it_at_the_next_step(
    client: TestClient, settings: Settings
) -> None:
    job = blocker(client)
    wait_until(
        lambda: (client.get(f"/api/jobs/{job['id']}").json()["step"] or 0) >= 1,
        what="first step",
    )
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    ended = wait_for(client, job["id"])
    assert ended["state"] == "cancelled" and ended["image_ids"] == []
    assert not list((settings.data_dir / "images").rglob("*.png"))  # nothing half-kept
    # The worker goes on with the next job.
    assert generate_done(client, "a circle")["state"] == "done"


def test_events_stream_progress_previews_then_done(client: TestClient) -> None:
    first = blocker(client)  # keeps the watched job queued until the stream is open
    job = generate(client, "small stars", seed=5, batch_size=12, width=64, height=64)
    events = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        client.post(f"/api/jobs/{first['id']}/cancel")
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    names = [n for n, _ in events]
    assert names[0] == "state" and events[0][1]["state"] == "queued"
    assert names[-1] == "done"
    progress = [d for n, d in events if n == "progress"]
    assert [d["step"] for d in progress] == list(range(1, 13))
    previews = [d for n, d in events if n == "preview"]
    assert previews and previews[0]["image"].startswith("data:image/png;base64,")
    assert names.index("progress") < names.index("done")
    assert sorted(events[-1][1]["image_ids"]) == sorted(wait_for(client, job["id"])["image_ids"])


@pytest.mark.stepped
def test_events_of_a_finished_job_end_at_once(client: TestClient) -> None:
    job = generate_done(client, "a circle")
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        text = "".join(stream.iter_text())
    assert text.count("event: ") == 2 and "event: done" in text


def test_queue_lists_positions_and_an_eta_from_finished_jobs(client: TestClient) -> None:
    generate_done(client, "a circle", batch_size=4)  # history for the ETA
    running = blocker(client)
    # 16 images each: their estimates (4x the history job's time) stay apart even when
    # renders are fast and the API rounds to 10 ms.
    queued = [generate(client, f"a {colour} star", batch_size=16) for colour in ("red", "blue")]
    wait_for(client, running["id"], states=("running",))
    listing = client.get("/api/jobs", params={"state": ["queued", "running"]}).json()
    by_id = {j["id"]: j for j in listing["items"]}
    assert [j["id"] for j in listing["items"]] == [running["id"]] + [q["id"] for q in queued]
    assert [by_id[q["id"]]["position"] for q in queued] == [1, 2]
    assert by_id[running["id"]]["position"] == 0
    etas = [by_id[q["id"]]["eta_seconds"] for q in queued]
    assert all(e is not None and e > 0 for e in etas) and etas[0] < etas[1]
    client.post(f"/api/jobs/{running['id']}/cancel")


def test_unknown_job_is_404_json(client: TestClient) -> None:
    response = client.get("/api/jobs/999")
    assert response.status_code == 404 and response.json() == {"detail": "job 999 does not exist"}


def test_gallery_never_shows_an_image_before_its_job_is_complete(
    client: TestClient, settings: Settings
) -> None:
    job = generate(client, "big stars", batch_size=48, width=256, height=256, seed=9)
    seen = set()

    def ended() -> bool:  # looks at the gallery as often as it can while the job runs
        finished = client.get(f"/api/jobs/{job['id']}").json()["state"] in FINISHED
        items = client.get("/api/images", params={"limit": 200}).json()["items"]
        seen.add(len(items))
        for item in items:  # every listed image is a complete file matching its hash
            data = (settings.data_dir / item["url"].removeprefix("/files/")).read_bytes()
            assert sha256(data) == item["sha256"]
        return finished

    wait_until(ended, what="the job's end", every=0)
    assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "done"
    assert seen <= {0, 48}
    assert client.get("/api/images").json()["total"] == 48


# -- recovery after a crash ------------------------------------------------------------


def _insert_running_job(settings: Settings, attempts: int, state: str = "running") -> int:
    studio = Studio(settings)
    studio.start(worker=False)
    with studio.sessions() as session:
        request = {"request": {"prompt": "a circle", "seed": 1, "model": "procedural"}}
        job = Job(
            kind="generate",
            model="procedural",
            request=json.dumps(request),
            state=state,
            attempts=attempts,
            progress=0.4,
            position=1,
            owner_id=studio.local_user_id,
            started_at=utcnow(),
            finished_at=utcnow() if state == "done" else None,
        )
        session.add(job)
        session.commit()
        job_id = job.id
    studio.stop()
    return job_id


def _state_after_restart(settings: Settings, job_id: int) -> Job:
    studio = Studio(settings)
    studio.start(worker=False)
    with studio.sessions() as session:
        job = session.scalar(select(Job).where(Job.id == job_id))
    studio.stop()
    return job


def test_a_job_cut_short_by_a_crash_is_queued_again(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    job = _state_after_restart(settings, _insert_running_job(settings, attempts=1))
    assert (job.state, job.attempts, job.progress, job.started_at) == ("queued", 1, 0.0, None)


def test_a_job_cut_short_twice_fails_with_the_reason(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    job = _state_after_restart(settings, _insert_running_job(settings, attempts=2))
    assert job.state == "failed" and "stopped during this job 2 times" in job.error


def test_finished_jobs_are_not_touched_by_recovery(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    job = _state_after_restart(settings, _insert_running_job(settings, attempts=2, state="done"))
    assert (job.state, job.attempts, job.error) == ("done", 2, None)


def test_a_requeued_job_is_run_by_the_worker(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    job_id = _insert_running_job(settings, attempts=1)
    from genlab.web.app import create_app

    with TestClient(create_app(settings)) as client:
        job = wait_for(client, job_id)
    assert job["state"] == "done" and job["attempts"] == 2 and len(job["image_ids"]) == 1


@pytest.mark.stepped
def test_a_job_the_engine_refuses_fails_with_its_message(client: TestClient) -> None:
    job = wait_for(client, generate(client, "5 circles")["id"])
    assert job["state"] == "failed" and "1 to 3" in job["error"]
    assert job["image_ids"] == []


@pytest.mark.stepped
def test_recolor_job_makes_a_new_gallery_image_from_an_old_one(client: TestClient) -> None:
    source_id = generate_done(client, "a red circle on a blue background", seed=2)["image_ids"][0]
    body = {"kind": "recolor", "image_id": source_id, "palette": "neon", "strength": 0.8}
    job = wait_for(client, client.post("/api/jobs", json=body).json()["id"])
    assert job["state"] == "done", job
    source = client.get(f"/api/images/{source_id}").json()
    result = client.get(f"/api/images/{job['image_ids'][0]}").json()
    assert result["sha256"] != source["sha256"] and result["prompt"] == source["prompt"]
    assert "Postprocess tool: recolor" in result["parameters"]
    assert "Postprocess palette: neon" in result["parameters"]
    like = {"kind": "recolor", "image_id": source_id, "like_image_id": result["id"]}
    assert wait_for(client, client.post("/api/jobs", json=like).json()["id"])["state"] == "done"
    both = {**body, "like_image_id": result["id"]}
    assert client.post("/api/jobs", json=both).status_code == 422
    assert client.post("/api/jobs", json={**body, "image_id": 999}).status_code == 404


@pytest.mark.stepped
def test_upscale_job_doubles_a_gallery_image(client: TestClient) -> None:
    source_id = generate_done(client, "a yellow star", width=64, height=64)["image_ids"][0]
    body = {"kind": "upscale", "image_id": source_id, "scale": 2, "model": "lanczos"}
    job = wait_for(client, client.post("/api/jobs", json=body).json()["id"])
    assert job["state"] == "done" and job["model"] == "upscale:lanczos", job
    result = client.get(f"/api/images/{job['image_ids'][0]}").json()
    assert (result["width"], result["height"]) == (128, 128)
    assert "Postprocess tool: upscale" in result["parameters"]
    for bad in ({"model": "/tmp/model.pth"}, {"scale": 3}):
        response = client.post("/api/jobs", json={**body, **bad})
        assert response.status_code == 422 and next(iter(bad)) in response.json()["detail"]


def test_a_clean_stop_puts_the_running_job_back_without_counting_it(tmp_path: Path) -> None:
    from genlab.web.app import create_app

    settings = Settings(data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        job = blocker(client)
        wait_until(lambda: (client.get(f"/api/jobs/{job['id']}").json()["step"] or 0) >= 1)
    stopped = _state_after_restart(settings, job["id"])
    assert (stopped.state, stopped.attempts, stopped.started_at) == ("queued", 0, None)
    assert not list((settings.data_dir / "images").rglob("*.png"))
