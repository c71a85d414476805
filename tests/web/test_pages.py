"""The studio's pages: each renders, forms carry CSRF tokens and post through the same
services as the API, use-these-settings pre-fills the form, prompts are escaped.

Posts here act as a browser would (an Origin header), so the CSRF guard applies.
"""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.web.app import STATIC, create_app
from genlab.web.routes.pages.gallery import PAGE_SIZE, pager
from genlab.web.security import CSRF_COOKIE
from genlab.web.settings import Settings
from tests.web.conftest import blocker, generate_done, png_bytes, wait_for

ORIGIN = {"Origin": "http://testserver"}
HTMX = {**ORIGIN, "HX-Request": "true"}
TEMPLATES = STATIC.parent / "templates"


class Forms(HTMLParser):
    """Every form of a page: its attributes and its fields' current values."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self._field: str | None = None  # the textarea or select being read
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"attrs": a, "fields": {}})
        elif not self.forms:
            return
        fields = self.forms[-1]["fields"]
        if tag == "input" and (a.get("type") not in ("checkbox", "file") or "checked" in a):
            fields[a.get("name", "")] = a.get("value", "")
        elif tag == "textarea":
            self._field = a["name"]
            fields[self._field] = ""
        elif tag == "select":
            self._field = a["name"]
        elif tag == "option" and self._field and "selected" in a:
            fields[self._field] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._field and self.forms and self.lasttag == "textarea":
            self.forms[-1]["fields"][self._field] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("textarea", "select"):
            self._field = None

    def by_id(self, form_id: str) -> dict[str, str]:
        return next(f["fields"] for f in self.forms if f["attrs"].get("id") == form_id)

    def posting(self) -> list[dict]:
        return [f for f in self.forms if f["attrs"].get("method") == "post"]


def csrf(client: TestClient) -> str:
    if CSRF_COOKIE not in client.cookies:
        client.get("/queue")
    return client.cookies[CSRF_COOKIE]


def post(client: TestClient, url: str, data: dict, headers=ORIGIN, **kwargs):
    """A form post as the pages send it: with the CSRF field."""
    data = {"csrf_token": csrf(client), **data}
    return client.post(url, data=data, headers=headers, follow_redirects=False, **kwargs)


def pixels(client: TestClient, image_id: int) -> bytes:
    """An image's decoded pixels (its file also holds timings, which differ run to run)."""
    from PIL import Image

    data = client.get(f"/api/images/{image_id}/file").content
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def first_image(client: TestClient, prompt: str = "a red circle", **fields) -> int:
    return generate_done(client, prompt, **fields)["image_ids"][0]


# -- every page ----------------------------------------------------------------------------


@pytest.mark.stepped
def test_each_page_renders_with_helpful_empty_states(client: TestClient) -> None:
    generate = client.get("/")
    assert generate.status_code == 200 and "text/html" in generate.headers["content-type"]
    assert "<h1>Generate</h1>" in generate.text and "press Generate" in generate.text
    assert "No jobs yet" in client.get("/queue").text
    assert "The gallery is empty" in client.get("/gallery").text

    done = generate_done(client, "a red circle", seed=3)
    image_id = done["image_ids"][0]
    image = client.get(f"/images/{image_id}")
    assert image.status_code == 200
    assert "Use these settings" in image.text and "Seed: 3" in image.text
    job = client.get(f"/jobs/{done['id']}")
    assert job.status_code == 200 and f'href="/images/{image_id}"' in job.text
    assert f'href="/images/{image_id}"' in client.get("/gallery").text
    assert f'href="/jobs/{done["id"]}"' in client.get("/queue").text


def test_a_missing_image_or_job_is_a_404_page_with_one_line(client: TestClient) -> None:
    for url, line in [("/images/999", "image 999 does not exist"), ("/jobs/77", "job 77")]:
        response = client.get(url)
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"] and line in response.text


def test_static_files_and_vendored_htmx_no_links_to_other_sites(client: TestClient) -> None:
    page = client.get("/").text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset
    assert "/static/vendor/htmx.min.js" in page
    assert (STATIC / "vendor" / "htmx.LICENSE").is_file()
    assert "2.0.11" in (STATIC / "vendor" / "README.md").read_text()
    for template in TEMPLATES.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', template.read_text()), template.name


# -- CSRF ----------------------------------------------------------------------------------


def test_every_post_form_carries_the_csrf_token(client: TestClient) -> None:
    image_id = first_image(client)
    token = csrf(client)
    blocker(client)
    for url in ("/", f"/images/{image_id}", "/queue", f"/?from_image={image_id}"):
        html = client.get(url).text
        forms = Forms(html).posting()
        assert forms, url
        for form in forms:
            assert form["fields"].get("csrf_token") == token, (url, form["attrs"])
        # htmx requests repeat it in a header.
        assert f'"X-CSRF-Token": "{token}"' in html


@pytest.mark.parametrize(
    "url",
    [
        "/generate",
        "/images/{id}/delete",
        "/images/{id}/upscale",
        "/images/{id}/style",
        "/jobs/{id}/cancel",
    ],
)
def test_a_form_post_without_the_csrf_token_is_refused(client: TestClient, url: str) -> None:
    image_id = first_image(client)
    csrf(client)
    response = client.post(
        url.format(id=image_id), data={"prompt": "x"}, headers=ORIGIN, follow_redirects=False
    )
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    wrong = client.post(
        url.format(id=image_id), data={"csrf_token": "forged"}, headers=ORIGIN
    ).status_code
    assert wrong == 403
    assert client.get(f"/api/images/{image_id}").status_code == 200  # nothing happened
    assert client.get("/api/jobs").json()["count"] == 1


# -- Generate ------------------------------------------------------------------------------


def test_the_form_starts_from_the_default_models_tuned_settings(client: TestClient) -> None:
    page = client.get("/").text
    fields = Forms(page).by_id("generate-form")
    assert fields["model"] == "procedural" and fields["seed"] == "-1"
    assert fields["batch_size"] == "1"
    models = json.loads(re.search(r'id="model-data">(.*?)</script>', page, re.S).group(1))
    assert {"builtin", "procedural"} <= set(models)
    # The built-in model samples by flow matching: only two samplers work with it.
    assert models["builtin"]["samplers"] == ["DPM++ 2M", "UniPC"]
    assert models["builtin"]["defaults"]["steps"] == 8 and models["builtin"]["native"] == 64
    assert "steps" in models["procedural"]["ignores"]
    assert "init_image" in models["procedural"]["ignores"]
    for words in ("blue background", "at golden hour", "watercolour style", "dreamy"):
        assert f'data-descriptor="{words}"' in page


@pytest.mark.stepped
def test_the_form_queues_a_job_and_htmx_gets_its_live_card(client: TestClient) -> None:
    response = post(client, "/generate", {"prompt": "a blue star", "seed": "11"}, headers=HTMX)
    assert response.status_code == 200
    match = re.search(r'<article class="job" id="job-(\d+)"[^>]*data-live', response.text)
    assert match and 'id="form-error" hx-swap-oob' in response.text  # clears an old error
    job = wait_for(client, int(match.group(1)))
    assert job["state"] == "done" and job["request"]["request"]["seed"] == 11
    card = client.get(f"/jobs/{job['id']}/card").text
    assert "data-live" not in card and f"/images/{job['image_ids'][0]}" in card

    # Without htmx the browser goes to the job's page.
    plain = post(client, "/generate", {"prompt": "a red star", "model": "procedural"})
    assert plain.status_code == 303 and plain.headers["location"].startswith("/jobs/")


def test_a_bad_value_is_one_line_on_the_page_and_the_form_keeps_its_values(
    client: TestClient,
) -> None:
    fields = {"prompt": "a <b>green</b> heart", "width": "100", "steps": "12"}
    htmx = post(client, "/generate", fields, headers=HTMX)
    assert htmx.status_code == 422 and htmx.headers["hx-retarget"] == "#form-error"
    assert htmx.text.strip().count("\n") == 0 and "width=100" in htmx.text
    assert "multiple of 8" in htmx.text

    plain = post(client, "/generate", {**fields, "steps": "many"})
    assert plain.status_code == 422 and "steps=&#39;many&#39; is invalid" in plain.text
    kept = Forms(plain.text).by_id("generate-form")
    assert kept["prompt"] == fields["prompt"] and kept["width"] == "100"
    assert client.get("/api/jobs").json()["count"] == 0


@pytest.mark.stepped
def test_use_these_settings_prefills_the_form_with_the_images_own_seed(
    client: TestClient,
) -> None:
    job = generate_done(
        client, "two small red stars", negative_prompt="blur", seed=40, batch_size=2, width=128
    )
    second = job["image_ids"][1]  # seed 41, made in a batch of two
    page = client.get(f"/?from_image={second}").text
    fields = Forms(page).by_id("generate-form")
    assert fields["prompt"] == "two small red stars" and fields["negative_prompt"] == "blur"
    assert fields["seed"] == "41" and fields["batch_size"] == "1"
    assert fields["width"] == "128" and fields["model"] == "procedural"

    # Posting the pre-filled form makes the same pixels again.
    again = post(client, "/generate", {k: v for k, v in fields.items() if k != "csrf_token"})
    job_id = int(again.headers["location"].rsplit("/", 1)[1])
    remade = wait_for(client, job_id)["image_ids"][0]
    assert remade != second
    assert pixels(client, remade) == pixels(client, second)


@pytest.mark.stepped
def test_an_init_image_from_an_upload_or_the_gallery_makes_an_img2img_job(
    client: TestClient,
) -> None:
    image_id = first_image(client)
    page = client.get(f"/?init_image_id={image_id}").text
    assert Forms(page).by_id("generate-form")["init_image_id"] == str(image_id)

    files = {"init_image": ("init.png", png_bytes(64, 64), "image/png")}
    uploaded = post(client, "/generate", {"prompt": "a star"}, files=files)
    held = post(client, "/generate", {"prompt": "a star", "init_image_id": str(image_id)})
    for response in (uploaded, held):
        job = client.get(f"/api/jobs/{response.headers['location'].rsplit('/', 1)[1]}").json()
        assert job["kind"] == "img2img"
        assert job["request"]["request"]["init_image"].startswith("inputs/")
        # Shapes World cannot start from an image; the job's page says so.
        assert wait_for(client, job["id"])["state"] == "failed"
        assert "draws from prompts only" in client.get(f"/jobs/{job['id']}").text


def test_a_stored_input_path_must_stay_inside_inputs(client: TestClient) -> None:
    response = post(client, "/generate", {"prompt": "x", "init_image_path": "genlab.db"})
    assert response.status_code == 422 and "stored input under inputs/" in response.text


@pytest.mark.stepped
def test_html_escapes_prompts_everywhere(client: TestClient) -> None:
    prompt = '<script>alert("x")</script> & a red circle'
    job = generate_done(client, prompt, seed=1)
    image_id = job["image_ids"][0]
    for url in ("/gallery", f"/images/{image_id}", f"/jobs/{job['id']}", "/queue"):
        html = client.get(url).text
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert(" in html, url
    prefilled = client.get(f"/?from_image={image_id}").text
    assert "<script>alert" not in prefilled
    assert Forms(prefilled).by_id("generate-form")["prompt"] == prompt


# -- queue, gallery, image actions ---------------------------------------------------------


def test_cancel_from_the_queue(client: TestClient) -> None:
    running = blocker(client)
    waiting = client.post("/api/jobs", json={"kind": "generate", "prompt": "a star"}).json()
    page = client.get("/queue").text
    assert 'hx-trigger="every 2s' in page  # refreshes itself while jobs are active
    assert f"/jobs/{waiting['id']}/cancel" in page
    response = post(client, f"/jobs/{waiting['id']}/cancel", {}, headers=HTMX)
    assert response.status_code == 204 and response.headers["hx-trigger"] == "queue-changed"
    assert client.get(f"/api/jobs/{waiting['id']}").json()["state"] == "cancelled"
    plain = post(client, f"/jobs/{running['id']}/cancel", {})
    assert plain.status_code == 303 and plain.headers["location"] == "/queue"
    assert wait_for(client, running["id"])["state"] == "cancelled"
    again = post(client, f"/jobs/{running['id']}/cancel", {})
    assert again.status_code == 409 and "already cancelled" in again.text


@pytest.mark.stepped
def test_a_sweep_job_reads_as_one_on_the_queue_and_its_page(client: TestClient) -> None:
    body = {"kind": "sweep", "prompt": "a <red> star", "x": "seed=1-3", "width": 64, "height": 64}
    job = client.post("/api/jobs", json=body).json()
    assert wait_for(client, job["id"])["state"] == "done"
    queue = client.get("/queue").text
    assert "Sweep: a &lt;red&gt; star" in queue and "3 images" in queue
    page = client.get(f"/jobs/{job['id']}").text
    assert page.count('href="/images/') >= 3  # its cells (and contact sheet) link out


def test_pager_links_first_last_and_a_window_around_the_page() -> None:
    assert pager(1, 1) == [1]
    assert pager(1, 4) == [1, 2, 3, 4]
    assert pager(1, 417) == [1, 2, 3, None, 417]
    assert pager(200, 417) == [1, None, 198, 199, 200, 201, 202, None, 417]
    assert pager(416, 417) == [1, None, 414, 415, 416, 417]
    assert pager(4, 9) == [1, 2, 3, 4, 5, 6, None, 9]  # no gap drawn for a single page 2


@pytest.mark.stepped
def test_gallery_search_model_date_filters_and_pages(client: TestClient) -> None:
    generate_done(client, "a red circle", seed=1, width=64, height=64)
    generate_done(client, "three blue stars", seed=2, width=64, height=64)
    generate_done(client, "a green heart", seed=3, batch_size=PAGE_SIZE, width=64, height=64)

    def cards(**params) -> list[str]:
        response = client.get("/gallery", params=params)
        assert response.status_code == 200, response.text
        return re.findall(r'<span class="caption">([^<]*)</span>', response.text)

    assert cards(q="blue sta") == ["three blue stars"]
    assert len(cards()) == PAGE_SIZE and len(cards(page=2)) == 2
    assert 'aria-current="page">2<' in client.get("/gallery", params={"page": 2}).text
    assert cards(model="nope") == [] and "No image matches" in client.get("/gallery?q=zzz").text
    assert len(cards(model="shapes-world", q="circle")) == 1
    today = client.get("/api/images?limit=1").json()["items"][0]["created_at"][:10]
    assert len(cards(since=today, until=today, tz="UTC", q="circle")) == 1
    assert cards(until="2000-01-01") == []
    bad = client.get("/gallery", params={"since": "yesterday"})
    assert bad.status_code == 422 and "a date as YYYY-MM-DD" in bad.text
    assert client.get("/gallery", params={"tz": "Mars/Olympus"}).status_code == 422


def test_delete_from_the_image_page(client: TestClient) -> None:
    image_id = first_image(client)
    page = client.get(f"/images/{image_id}").text
    assert "data-confirm=" in page  # the page asks before deleting
    response = post(client, f"/images/{image_id}/delete", {})
    assert response.status_code == 303 and response.headers["location"].endswith(f"={image_id}")
    assert f"Image {image_id} was deleted" in client.get(response.headers["location"]).text
    assert client.get(f"/api/images/{image_id}").status_code == 404


@pytest.mark.stepped
def test_send_to_upscale_and_recolour_queue_tool_jobs(client: TestClient) -> None:
    image_id = first_image(client, width=64, height=64)
    upscale = post(client, f"/images/{image_id}/upscale", {"scale": "2", "model": "bicubic"})
    recolour = post(client, f"/images/{image_id}/recolor", {"palette": "pastel"})
    for response in (upscale, recolour):
        assert response.status_code == 303 and response.headers["location"].startswith("/jobs/")
        job = wait_for(client, int(response.headers["location"].rsplit("/", 1)[1]))
        assert job["state"] == "done", job
    made = client.get(f"/api/images/{job['image_ids'][0]}").json()
    assert made["width"] == 64  # the recolour keeps the size
    refused = post(client, f"/images/{image_id}/upscale", {"scale": "3"})
    assert refused.status_code == 422 and "scale=3 is invalid: must be 2 or 4" in refused.text
    assert "Use these settings" in refused.text  # still the image's page


def test_send_to_style_transfer_takes_a_style_image(client: TestClient) -> None:
    image_id = first_image(client, width=64, height=64)
    missing = post(client, f"/images/{image_id}/style", {})
    assert missing.status_code == 422 and "upload a style image" in missing.text
    files = {"style_image": ("style.png", png_bytes(64, 64, (20, 90, 200)), "image/png")}
    fields = {"size": "64", "preserve_colours": "on"}
    running = blocker(client)  # keeps the style job queued: on a CPU it takes a while
    queued = post(client, f"/images/{image_id}/style", fields, files=files)
    assert queued.status_code == 303
    job_id = int(queued.headers["location"].rsplit("/", 1)[1])
    for stop in (job_id, running["id"]):
        client.post(f"/api/jobs/{stop}/cancel")
    job = wait_for(client, job_id)
    assert job["kind"] == "style" and job["request"]["content_image"] == {"image_id": image_id}
    assert job["request"]["config"]["preserve_colours"] is True
    assert job["request"]["style_image"]["path"].startswith("inputs/")
    assert f"Style transfer onto image {image_id}" in client.get(f"/jobs/{job_id}").text


# -- with a token --------------------------------------------------------------------------


def test_pages_with_a_token_login_page_or_query_token(tmp_path: Path) -> None:
    token = "page-token-1234"
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", token=token))) as guarded:
        assert guarded.get("/").status_code == 401
        assert guarded.get("/", params={"token": token}).status_code == 200
        assert guarded.get("/gallery").status_code == 200  # the session cookie now
        assert "Sign out" in guarded.get("/").text
        guarded.cookies.clear()

        form = guarded.get("/login?next=/gallery")
        fields = Forms(form.text).posting()[0]["fields"]
        signed = guarded.post(
            "/login",
            data={**fields, "token": token},
            headers=ORIGIN,
            follow_redirects=False,
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/gallery"
        assert guarded.get("/gallery").status_code == 200
        queued = post(guarded, "/generate", {"prompt": "a star"})
        assert queued.status_code == 303


# -- Sweep ---------------------------------------------------------------------------------

SWEEP_FORM = {"prompt": "a red circle", "model": "procedural", "width": "64", "height": "64"}


def test_the_sweep_page_renders_its_form_with_the_csrf_token(client: TestClient) -> None:
    page = client.get("/sweep")
    assert page.status_code == 200 and "<h1>Sweep</h1>" in page.text
    assert 'href="/sweep" aria-current="page"' in page.text
    fields = Forms(page.text).by_id("sweep-form")
    assert fields["csrf_token"] == csrf(client)
    assert {"prompt", "model", "steps", "guidance_scale", "sampler", "seed", "x", "y", "z"} <= set(
        fields
    )
    for example in ("seed=1-4", "guidance_scale=3,7.5", "sr=red,blue", "descriptors=lighting"):
        assert example in page.text


@pytest.mark.stepped
def test_a_posted_sweep_shows_its_grid_cells_and_contact_sheet(client: TestClient) -> None:
    form = {**SWEEP_FORM, "seed": "5", "x": "seed=1-2", "y": "guidance_scale=3,7"}
    response = post(client, "/sweep", form)
    assert response.status_code == 303, response.text
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    job = wait_for(client, job_id)
    assert job["state"] == "done" and job["request"]["shape"] == [2, 2, 1], job
    page = client.get(f"/jobs/{job_id}").text
    grid = page[page.index('data-sweep="') :]
    headers = re.findall(r'<th scope="(col|row)"[^>]*>([^<]*)</th>', grid)
    assert headers == [
        ("col", "guidance_scale \\ seed"),  # the corner names both axes
        ("col", "1"),
        ("col", "2"),
        ("row", "3"),
        ("row", "7"),
    ]
    cells = {c["position"][0] + 2 * c["position"][1]: c for c in job["cells"]}
    slots = re.findall(r'<td data-cell="(\d+)"[^>]*><a href="([^"]+)"><img src="([^"]+)"', grid)
    assert [int(i) for i, _, _ in slots] == [0, 1, 2, 3]
    for index, link, src in slots:
        cell = cells[int(index)]
        assert (link, src) == (f"/images/{cell['image_id']}", cell["url"])
        assert client.get(src).status_code == 200
    sheet = job["sheet_ids"][0]
    assert f'href="/images/{sheet}"><img src="/api/images/{sheet}/file"' in page
    # The piece the page's script fetches when the job ends is the same grid.
    assert client.get(f"/jobs/{job_id}/sweep").text.count("<td data-cell=") == 4


@pytest.mark.stepped
def test_a_running_sweep_page_shows_the_cells_made_so_far(client: TestClient) -> None:
    # Stepped: the sweep stays queued, none of its cells made, until wait_for runs it.
    response = post(client, "/sweep", {**SWEEP_FORM, "x": "seed=1-3"})
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/jobs/{job_id}").text
    assert page.count("<td data-cell=") == 3 and "<img" not in page[page.index("data-sweep") :]
    assert "data-live" in page  # the script follows the job and fills the cells in
    assert wait_for(client, job_id)["state"] == "done"
    assert client.get(f"/jobs/{job_id}").text.count('class="made"') == 3


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"x": "nope=1,2"}, "axis X"),
        ({"x": "seed=1,2", "y": "seed=3,4"}, "already varies"),
        ({"x": "seed=1-300"}, "at most 256"),
        ({"steps": "many"}, "steps"),
    ],
)
def test_a_bad_sweep_is_one_line_on_the_page_and_keeps_the_form(
    client: TestClient, fields: dict, named: str
) -> None:
    response = post(client, "/sweep", {**SWEEP_FORM, **fields})
    assert response.status_code == 422
    errors = re.findall(r'<p class="error" role="alert">([^<]*)</p>', response.text)
    assert len(errors) == 1 and named in errors[0] and "\n" not in errors[0]
    kept = Forms(response.text).by_id("sweep-form")
    assert all(kept[name] == value for name, value in fields.items())
    assert client.get("/api/jobs").json()["count"] == 0


def test_a_sweep_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    csrf(client)
    form = {**SWEEP_FORM, "x": "seed=1-2"}
    refused = client.post("/sweep", data=form, headers=ORIGIN, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    forged = {**form, "csrf_token": "forged"}
    assert client.post("/sweep", data=forged, headers=ORIGIN).status_code == 403
    assert client.get("/api/jobs").json()["count"] == 0
