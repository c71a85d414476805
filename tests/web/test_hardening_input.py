"""Hostile input to the studio: palettes that name server files, text with lone
surrogates or escape codes, sweeps that would expand to millions of values, huge
prompts and errors, ids beyond 64 bits, long searches, and one-sided sizes.

Every case answers a 4xx JSON one-liner (never a 500), and nothing bad is stored.
Jobs run with `Worker.run_once`, one at a time, so no test waits on a clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.lab import sweep as sweep_module
from genlab.lab.axes import Axis, AxisError, TooManyValues
from genlab.services import catalog
from genlab.transfer.palette import PaletteError, palette_from_text, parse_palette
from genlab.web import jobs, queue
from genlab.web.app import create_app
from genlab.web.models import Image, Job, utcnow
from genlab.web.settings import Settings
from genlab.web.studio import Studio
from genlab.web.worker import Worker
from tests.web.conftest import b64, png_bytes
from tests.web.test_pages import csrf

ORIGIN = {"Origin": "http://testserver"}
HUGE = 2**70
SURROGATE = "\ud800 x"


@pytest.fixture
def idle(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A studio whose worker does not run by itself: tests call `run_next`."""
    monkeypatch.setattr(Worker, "start", lambda self: None)
    with TestClient(create_app(settings)) as client:
        yield client


def studio_of(client: TestClient) -> Studio:
    return client.app.state.studio


def run_next(client: TestClient) -> dict:
    """Run the next queued job to its end and return the job as the API shows it."""
    with studio_of(client).sessions() as session:
        job_id = session.query(Job.id).filter(Job.state == "queued").order_by(Job.id).first()[0]
    assert studio_of(client).worker.run_once()
    return client.get(f"/api/jobs/{job_id}").json()


def post_json(client: TestClient, url: str, body: dict):
    """A JSON body as sent on the wire: json.dumps escapes a lone surrogate as \\ud800,
    which the server's JSON parser turns back into one."""
    return client.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})


def image_in_gallery(client: TestClient, prompt: str = "a red circle") -> int:
    response = client.post("/api/jobs", json={"kind": "generate", "prompt": prompt, "seed": 1})
    assert response.status_code == 201, response.text
    job = run_next(client)
    assert job["state"] == "done", job
    return job["image_ids"][0]


def assert_refused(response, status: int = 422) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    return detail


# -- 1. a palette is a preset or hex colours, never a file ---------------------------------


SECRET = "top-secret-first-line"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "shadow"
    path.write_text(f"{SECRET}\nroot:x:0:0\n")
    return path


def test_a_recolour_palette_path_reveals_neither_content_nor_existence(
    idle: TestClient, secret_file: Path, tmp_path: Path
) -> None:
    image_id = image_in_gallery(idle)
    details = []
    for palette in (str(secret_file), str(tmp_path / "missing")):
        body = {"kind": "recolor", "image_id": image_id, "palette": palette}
        details.append(assert_refused(idle.post("/api/jobs", json=body)))
    assert all(SECRET not in d for d in details)
    # The same answer whether the path exists or not (but for the path as sent).
    assert details[0].replace(str(secret_file), "P") == details[1].replace(
        str(tmp_path / "missing"), "P"
    )
    assert "preset" in details[0] and "#hex" in details[0].replace("#1a2b3c", "#hex")
    assert idle.get("/api/jobs").json()["count"] == 1  # only the generation


def test_the_recolour_form_does_not_read_palette_files(idle: TestClient, secret_file: Path) -> None:
    image_id = image_in_gallery(idle)
    data = {"csrf_token": csrf(idle), "palette": str(secret_file)}
    page = idle.post(f"/images/{image_id}/recolor", data=data, headers=ORIGIN)
    assert page.status_code == 422 and SECRET not in page.text
    assert "unknown palette" in page.text


def test_palette_files_next_to_the_server_are_not_read_either(
    idle: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare file name (no slash) is a path relative to the server's folder."""
    image_id = image_in_gallery(idle)
    monkeypatch.chdir(tmp_path)
    Path("brand.txt").write_text("#0a2342 Navy\n")
    body = {"kind": "recolor", "image_id": image_id, "palette": "brand.txt"}
    assert "unknown palette" in assert_refused(idle.post("/api/jobs", json=body))
    with pytest.raises(PaletteError, match=r"unknown palette 'brand\.txt'"):
        palette_from_text("brand.txt")
    assert parse_palette("brand.txt").names == ("Navy",)  # the CLI still reads files


def test_presets_and_hex_palettes_still_queue(idle: TestClient) -> None:
    image_id = image_in_gallery(idle)
    for palette in ("pastel", "#ff0000, #00f"):
        body = {"kind": "recolor", "image_id": image_id, "palette": palette}
        assert idle.post("/api/jobs", json=body).status_code == 201
    assert run_next(idle)["state"] == "done"
    assert run_next(idle)["state"] == "done"


# -- 2. text a job stores must be valid Unicode without control characters -----------------


def _jobs_bodies(image_id: int) -> list[dict]:
    generate = {"kind": "generate", "prompt": "a circle"}
    sweep = {"kind": "sweep", "prompt": "a red circle", "x": "seed=1,2"}
    style = {"kind": "style", "content_image_id": image_id, "style_image_id": image_id}
    recolor = {"kind": "recolor", "image_id": image_id}
    return [
        {**generate, "prompt": SURROGATE},
        {**generate, "negative_prompt": SURROGATE},
        {**generate, "sampler": "\ud800"},
        {**generate, "schedule": "\x1b[2J"},
        {**generate, "model": "\udfff"},
        {"kind": "img2img", "prompt": SURROGATE, "init_image": b64(png_bytes(64, 64))},
        {**sweep, "prompt": SURROGATE},
        {**sweep, "x": "sr=red,\ud800"},
        {**sweep, "x": "sr=red,\x1b]0;title\x07"},
        {**sweep, "x": {"axis": "sr", "values": ["red", "\ud800"]}},
        {**sweep, "x": {"axis": "seed", "values": [1], "\ud800": 2}},
        {**sweep, "x": "seed=1,\ud800"},
        {**sweep, "sampler": "\ud800"},
        {**style, "optimizer": "\ud800"},
        {**style, "init": "\x1b[31m"},
        {**style, "pooling": "\ud800"},
        {**recolor, "palette": "\ud800"},
        {**recolor, "palette": "#fff,\ud800"},
        {**recolor, "like_image_id": image_id, "method": "\ud800"},
        {"kind": "upscale", "image_id": image_id, "model": "\ud800"},
    ]


def test_every_stored_text_field_refuses_surrogates_and_escape_codes(idle: TestClient) -> None:
    image_id = image_in_gallery(idle)
    for body in _jobs_bodies(image_id):
        detail = assert_refused(post_json(idle, "/api/jobs", body))
        assert "\ud800" not in detail and "\x1b" not in detail, body
    listing = idle.get("/api/jobs")
    assert listing.status_code == 200 and listing.json()["count"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": SURROGATE},
        {"prompt": "ok", "negative_prompt": "\ud800"},
        {"prompt": "ok", "sampler_name": "\ud800"},
        {"prompt": "ok", "scheduler": "\ud800"},
        {"prompt": "ok", "override_settings": {"sd_model_checkpoint": "\ud800"}},
        {"prompt": "ok", "comments": {"a": "\ud800"}},  # an extra field, echoed back
        {"prompt": "ok", "\ud800": 1},
        {"prompt": "ok", "styles_text": "\x1b[2J"},
    ],
)
@pytest.mark.parametrize("route", ["txt2img", "img2img"])
def test_a1111_bodies_with_broken_text_are_refused(client: TestClient, body: dict, route) -> None:
    """With a running worker: an A1111 call waits for its job, so one wrongly queued
    runs (and the test fails) instead of waiting for good."""
    if route == "img2img":
        body = {**body, "init_images": [b64(png_bytes(64, 64))]}
    detail = assert_refused(post_json(client, f"/sdapi/v1/{route}", body))
    assert "\ud800" not in detail
    assert client.get("/api/jobs").json()["count"] == 0


def _insert_broken_rows(client: TestClient) -> tuple[int, int]:
    """A failed job and an image as an older version stored them: lone surrogates in
    JSON text (json.dumps writes them as \\ud800 escapes, which SQLite keeps)."""
    studio = studio_of(client)
    with studio.sessions() as session:
        request = {"prompt": SURROGATE, "seed": 1, "model": "procedural", "\udc80": "k"}
        job = Job(
            kind="generate",
            model="procedural",
            request=json.dumps({"request": request, "n_iter": 1}),
            state="failed",
            attempts=1,
            progress=0.0,
            position=1,
            owner_id=studio.local_user_id,
            error="x" * 100_000,
            finished_at=utcnow(),
        )
        sweep = Job(
            kind="sweep",
            model="procedural",
            request=json.dumps(
                {
                    "definition": {"fields": {"prompt": SURROGATE}, "axes": {}},
                    "cells": 1,
                    "shape": [1, 1, 1],
                    "axes": [{"name": n, "title": "", "labels": ["\ud800"]} for n in "xyz"],
                }
            ),
            state="running",
            attempts=1,
            progress=0.0,
            position=2,
            owner_id=studio.local_user_id,
            cells=json.dumps([[0, "images/\ud800.png"]]),
        )
        session.add_all([job, sweep])
        session.flush()
        image = Image(
            sha256="0" * 64,
            path="images/00/" + "0" * 64 + ".png",
            width=8,
            height=8,
            prompt="a circle",
            negative_prompt="",
            model="procedural",
            seed=1,
            parameters="a circle\nSteps: 1",
            request=json.dumps({"prompt": SURROGATE, "seed": 1}),
            job_id=job.id,
            owner_id=studio.local_user_id,
        )
        session.add(image)
        session.commit()
        return job.id, image.id


def test_rows_stored_with_surrogates_by_older_versions_still_list(idle: TestClient) -> None:
    job_id, image_id = _insert_broken_rows(idle)
    for url in (
        "/api/jobs",
        "/api/jobs?state=failed",
        "/api/jobs?state=running",
        f"/api/jobs/{job_id}",
        f"/api/jobs/{job_id + 1}",
        "/queue",
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/card",
        f"/jobs/{job_id + 1}",
        f"/jobs/{job_id + 1}/sweep",
        "/api/images",
        f"/api/images/{image_id}",
        f"/images/{image_id}",
        "/gallery",
        f"/?from_image={image_id}",
    ):
        response = idle.get(url)
        assert response.status_code == 200, (url, response.text)
    job = idle.get(f"/api/jobs/{job_id}").json()
    assert job["request"]["request"]["prompt"] == "\ufffd x"
    assert len(job["error"]) <= queue.MAX_ERROR_CHARS  # a huge old error comes out short
    assert idle.get(f"/api/images/{image_id}").json()["request"]["prompt"] == "\ufffd x"


# -- 3. sweeps are counted before they are expanded ------------------------------------------


HOSTILE_AXIS = "seed=" + ",".join(["0-4095"] * 250)  # 1.75 KB for a million values


def test_a_sweep_axis_is_counted_not_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    real = Axis.__post_init__
    monkeypatch.setattr(Axis, "__post_init__", lambda self: (built.append(self), real(self)))
    with pytest.raises(TooManyValues) as raised:
        Axis.parse(HOSTILE_AXIS, max_values=256)
    assert raised.value.count == 250 * 4096 and built == []  # no Axis, no values made
    with pytest.raises(AxisError, match="at most 4096"):
        Axis.parse("seed=0-4294967295")
    with pytest.raises(TooManyValues):
        Axis.from_table({"axis": "seed", "values": ["0-255", "256-511"]}, max_values=256)
    assert len(Axis.parse("seed=0-255", max_values=256).values) == 256


@pytest.mark.parametrize(
    "axis",
    [
        HOSTILE_AXIS,
        "seed=0-4294967295",
        "seed=" + ",".join(map(str, range(300))),
        {"axis": "seed", "values": ["0-4095"] * 250},
        "guidance_scale=0-" + "9" * 400 + " (+0.5)",
        "seed=0-" + "9" * 400,
    ],
)
def test_a_hostile_sweep_body_is_refused_before_any_value_is_built(
    idle: TestClient, monkeypatch: pytest.MonkeyPatch, axis
) -> None:
    requests = []
    real = sweep_module._cell_request
    monkeypatch.setattr(sweep_module, "_cell_request", lambda *a: requests.append(a) or real(*a))
    body = {"kind": "sweep", "prompt": "a red circle", "x": axis}
    detail = assert_refused(idle.post("/api/jobs", json=body))
    assert "axis X" in detail and requests == []
    assert idle.get("/api/jobs").json()["count"] == 0


def test_three_axes_over_the_cell_limit_build_no_cell(
    idle: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 x 40 x 40 values are 64,000 cells: refused by their count, not after making
    64,000 requests."""
    requests = []
    real = sweep_module._cell_request
    monkeypatch.setattr(sweep_module, "_cell_request", lambda *a: requests.append(a) or real(*a))
    body = {
        "kind": "sweep",
        "prompt": "a red circle",
        "x": "seed=1-40",
        "y": "guidance_scale=1-40",
        "z": "steps=1-40",
    }
    detail = assert_refused(idle.post("/api/jobs", json=body))
    assert "cells=64000" in detail and "at most 256 images" in detail and requests == []


# -- 4. prompts and errors are short --------------------------------------------------------


def test_a_megabyte_prompt_is_refused_at_submit(client: TestClient) -> None:
    big = "a red circle " * 80_000
    for url, body in (
        ("/api/jobs", {"kind": "generate", "prompt": big}),
        ("/sdapi/v1/txt2img", {"prompt": big}),
        ("/api/jobs", {"kind": "sweep", "prompt": big, "x": "seed=1,2"}),
    ):
        detail = assert_refused(client.post(url, json=body))
        assert len(detail) < 500 and "10000 characters" in detail
    assert client.get("/api/jobs").json()["count"] == 0


def test_a_stored_error_is_one_short_printable_line(idle: TestClient) -> None:
    studio = studio_of(idle)
    with studio.sessions() as session:
        job = jobs.create_generation(
            session,
            studio.store,
            studio.settings,
            owner_id=studio.local_user_id,
            fields={"prompt": "a circle"},
        )
        queue.finish(session, job.id, "failed", error="bad\n\x1b[2J" + "y" * 100_000)
    error = idle.get(f"/api/jobs/{job.id}").json()["error"]
    assert len(error) <= queue.MAX_ERROR_CHARS and error.startswith("bad \\x1b[2J")
    assert "\n" not in error and "\x1b" not in error


def test_job_errors_name_store_files_not_server_paths(idle: TestClient) -> None:
    """A gallery image whose file was damaged after the job was queued: the worker's
    error names the file by its store path, not where the data folder is."""
    image_id = image_in_gallery(idle)
    studio = studio_of(idle)
    body = {"kind": "upscale", "image_id": image_id, "model": "bicubic"}
    assert idle.post("/api/jobs", json=body).status_code == 201
    path = idle.get(f"/api/images/{image_id}").json()["url"].removeprefix("/files/")
    (studio.settings.data_dir / path).write_bytes(b"not an image any more")
    job = run_next(idle)
    assert job["state"] == "failed" and path in job["error"], job
    for folder in (studio.store.root, studio.settings.data_dir.absolute()):
        assert str(folder) not in job["error"]
    assert idle.get("/api/jobs").status_code == 200


# -- 7. ids beyond 64 bits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"/api/jobs/{HUGE}"),
        ("POST", f"/api/jobs/{HUGE}/cancel"),
        ("GET", f"/api/jobs/{HUGE}/events"),
        ("GET", f"/api/images/{HUGE}"),
        ("GET", f"/api/images/{HUGE}/file"),
        ("GET", f"/api/images/{HUGE}/thumbnail"),
        ("DELETE", f"/api/images/{HUGE}"),
        ("GET", f"/api/images?offset={HUGE}"),
        ("GET", f"/api/images?offset={2**62}"),
        ("GET", f"/api/images?limit={HUGE}"),
        ("GET", f"/api/images/{HUGE}/thumbnail?size={HUGE}"),
        ("GET", f"/jobs/{HUGE}"),
        ("GET", f"/jobs/{HUGE}/card"),
        ("GET", f"/jobs/{HUGE}/sweep"),
        ("GET", f"/images/{HUGE}"),
        ("GET", f"/gallery?page={HUGE}"),
        ("GET", f"/gallery?page={2**60}"),
        ("GET", f"/gallery?deleted={HUGE}"),
        ("GET", f"/?from_image={HUGE}"),
        ("GET", f"/?init_image_id={HUGE}"),
        ("GET", "/api/jobs/0"),
        ("GET", "/api/images/-1"),
    ],
)
def test_ids_and_offsets_beyond_64_bits_are_4xx(idle: TestClient, method: str, url: str) -> None:
    response = idle.request(method, url)
    assert response.status_code in (404, 422), (url, response.status_code, response.text)
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "recolor", "image_id": HUGE, "palette": "pastel"},
        {"kind": "recolor", "image_id": 1, "like_image_id": HUGE},
        {"kind": "recolor", "image_id": 1, "palette": "pastel", "seed": HUGE},
        {"kind": "upscale", "image_id": HUGE},
        {"kind": "upscale", "image_id": 1, "tile": HUGE},
        {"kind": "img2img", "prompt": "x", "init_image_id": HUGE},
        {"kind": "img2img", "prompt": "x", "init_image_id": 1, "mask_id": HUGE},
        {"kind": "style", "content_image_id": HUGE, "style_image_id": 1},
        {"kind": "style", "content_image_id": 1, "style_image_id": HUGE},
        {"kind": "style", "content_image_id": 1, "style_image_id": 1, "scales": HUGE},
        {"kind": "generate", "prompt": "x", "seed": HUGE},
        {"kind": "generate", "prompt": "x", "n_iter": HUGE},
        {"kind": "sweep", "prompt": "x", "seed": HUGE, "x": "steps=1,2"},
    ],
)
def test_huge_integers_in_job_bodies_are_4xx(idle: TestClient, body: dict) -> None:
    image_in_gallery(idle)
    response = idle.post("/api/jobs", json=body)
    assert response.status_code in (404, 422), (body, response.text)
    assert idle.get("/api/jobs").json()["count"] == 1


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/images/{id}/style", {"style_image_id": str(HUGE)}),
        ("/images/{id}/style", {"style_image_id": "0"}),
        ("/generate", {"prompt": "x", "init_image_id": str(HUGE)}),
        ("/generate", {"prompt": "x", "seed": str(HUGE)}),
        ("/sweep", {"prompt": "x", "x": "seed=1,2", "seed": str(HUGE)}),
    ],
)
def test_huge_integers_in_forms_are_a_line_on_the_page(
    idle: TestClient, url: str, data: dict
) -> None:
    image_id = image_in_gallery(idle)
    data = {"csrf_token": csrf(idle), **data}
    page = idle.post(url.format(id=image_id), data=data, headers=ORIGIN)
    assert page.status_code in (404, 422), page.text
    assert idle.get("/api/jobs").json()["count"] == 1


# -- 8. searches are bounded ---------------------------------------------------------------


def test_a_search_of_hundreds_of_words_is_refused_with_a_clear_line(idle: TestClient) -> None:
    image_in_gallery(idle, "a red circle")
    hundreds = " ".join(f"w{i}x" for i in range(600))  # about 3,500 characters
    assert "at most 1000 characters" in assert_refused(
        idle.get("/api/images", params={"q": hundreds})
    )
    many = " ".join(f"w{i}" for i in range(40))
    detail = assert_refused(idle.get("/api/images", params={"q": many}))
    assert "at most 32 words" in detail
    page = idle.get("/gallery", params={"q": many})
    assert page.status_code == 422 and "at most 32 words" in page.text
    # Repeats are one word.
    found = idle.get("/api/images", params={"q": " ".join(["circ"] * 100)})
    assert found.status_code == 200 and found.json()["total"] == 1
    assert_refused(idle.get("/api/images", params={"q": "x" * 5000}))
    assert_refused(idle.get("/api/images", params={"model": "\x1b[2J"}))


# -- 16. one side given: checked against the pixel limit at submit ------------------------------


@pytest.mark.parametrize("side", ["width", "height"])
def test_one_sided_sizes_are_checked_at_submit(idle: TestClient, side: str) -> None:
    body = {"kind": "generate", "prompt": "a circle", side: 4096, "batch_size": 64}
    detail = assert_refused(idle.post("/api/jobs", json=body))
    assert "pixels per batch" in detail and "256 px, the model's native size" in detail
    assert idle.get("/api/jobs").json()["count"] == 0
    ok = idle.post("/api/jobs", json={"kind": "generate", "prompt": "a circle", side: 64})
    assert ok.status_code == 201
    done = run_next(idle)
    assert done["state"] == "done", done


@pytest.mark.parametrize("side", ["width", "height"])
def test_one_sided_a1111_sizes_are_checked_at_submit(client: TestClient, side: str) -> None:
    body = {"prompt": "a circle", side: 4096, "batch_size": 64}
    assert "pixels per batch" in assert_refused(client.post("/sdapi/v1/txt2img", json=body))
    assert client.get("/api/jobs").json()["count"] == 0


def test_one_sided_img2img_takes_the_other_side_from_the_init_image(idle: TestClient) -> None:
    body = {
        "kind": "img2img",
        "prompt": "a circle",
        "model": "builtin",
        "width": 4096,
        "batch_size": 64,
        "init_image": b64(png_bytes(16, 2048)),
    }
    detail = assert_refused(idle.post("/api/jobs", json=body))
    assert "height left out is 2048 px, from the init image" in detail
    body.update(init_image=b64(png_bytes(16, 16)), batch_size=2)
    assert idle.post("/api/jobs", json=body).status_code == 201  # 4096 x 16 x 2


def test_the_native_side_is_read_from_the_shipped_models_config() -> None:
    assert catalog.native_side("procedural") == 256
    assert catalog.native_side("builtin") == 64
    assert catalog.native_side("some/hub-model") is None


def test_options_refuse_text_that_cannot_be_stored_or_read_back(client) -> None:
    for body in ({"\ud800": 1}, {"samples_format": "\ud800"}, {"x": ["ok", {"y": "\x1b[2J"}]}):
        response = client.post(
            "/sdapi/v1/options",
            content=json.dumps(body),  # ASCII with \ud800 escapes, as a hostile client sends
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
    assert client.get("/sdapi/v1/options").status_code == 200
    assert client.post("/sdapi/v1/options", json={"samples_format": "png"}).status_code == 200
