"""Token, uploads, body size, CSRF, error shape, and the loopback rule."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.core.errors import InvalidRequest
from genlab.web.app import create_app
from genlab.web.security import CSRF_COOKIE, SESSION_COOKIE
from genlab.web.settings import Settings
from tests.web.conftest import b64, generate_done, png_bytes

TOKEN = "s3cret-token-for-tests"


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG of a few dozen bytes whose header claims 10 gigapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def guarded(tmp_path: Path):
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", token=TOKEN))) as client:
        yield client


def test_without_the_token_every_api_is_401_json(guarded: TestClient) -> None:
    for method, path in [
        ("GET", "/api/jobs"),
        ("GET", "/api/images"),
        ("POST", "/sdapi/v1/txt2img"),
        ("GET", "/sdapi/v1/options"),
        ("GET", "/docs"),
    ]:
        response = guarded.request(method, path)
        assert response.status_code == 401, path
        assert response.json()["detail"].startswith("a token is needed")
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_wrong_token_is_401(guarded: TestClient) -> None:
    response = guarded.get("/api/jobs", headers={"Authorization": "Bearer wrong-token"})
    assert response.status_code == 401
    assert guarded.get("/api/jobs", params={"token": "wrong-token"}).status_code == 401


def test_bearer_token_is_accepted(guarded: TestClient) -> None:
    response = guarded.get("/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_token_in_the_url_once_sets_a_session_cookie(guarded: TestClient) -> None:
    first = guarded.get("/api/jobs", params={"token": TOKEN})
    assert first.status_code == 200 and SESSION_COOKIE in first.cookies
    assert TOKEN not in first.cookies[SESSION_COOKIE]  # the cookie is not the token
    assert guarded.get("/api/images").status_code == 200  # the cookie alone now


def test_login_form_sets_the_session_cookie(guarded: TestClient) -> None:
    page = guarded.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    csrf = guarded.cookies[CSRF_COOKIE]
    assert f'value="{csrf}"' in page.text
    wrong = guarded.post("/login", data={"token": "nope", "csrf_token": csrf})
    assert wrong.status_code == 401
    response = guarded.post(
        "/login",
        data={"token": TOKEN, "csrf_token": csrf, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert guarded.get("/api/jobs").status_code == 200


def test_a_browser_opening_a_page_without_the_token_is_sent_to_sign_in(
    guarded: TestClient,
) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    response = guarded.get("/gallery?q=red+star", headers=html, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fgallery%3Fq%3Dred%2Bstar"
    # Scripts, htmx and API clients still get the JSON 401 they can act on.
    assert guarded.get("/api/images", headers=html).status_code == 401
    assert guarded.get("/gallery", headers={**html, "HX-Request": "true"}).status_code == 401
    assert guarded.get("/gallery").status_code == 401
    # The sign-in page is a studio page: its stylesheet loads without the token.
    page = guarded.get("/login", params={"next": "/gallery?q=red+star"})
    assert 'href="/static/studio.css"' in page.text and 'value="/gallery?q=red+star"' in page.text
    assert guarded.get("/static/studio.css").status_code == 200
    assert 'href="/queue"' not in page.text  # no studio links before signing in
    csrf = guarded.cookies[CSRF_COOKIE]
    signed = guarded.post(
        "/login",
        data={"token": TOKEN, "csrf_token": csrf, "next": "/gallery?q=red+star"},
        follow_redirects=False,
    )
    assert signed.headers["location"] == "/gallery?q=red+star"
    assert guarded.get("/gallery", headers=html).status_code == 200


def test_a_wrong_token_on_the_sign_in_form_says_so_on_the_form(guarded: TestClient) -> None:
    guarded.get("/login")
    csrf = guarded.cookies[CSRF_COOKIE]
    wrong = guarded.post("/login", data={"token": "nope-nope", "csrf_token": csrf})
    assert wrong.status_code == 401 and "not this server&#39;s token" in wrong.text
    assert 'name="token"' in wrong.text


def test_a_form_post_without_the_csrf_token_is_refused(guarded: TestClient) -> None:
    guarded.get("/login")
    response = guarded.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil"})
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


@pytest.mark.stepped
def test_a_browser_post_without_body_needs_the_csrf_header(client: TestClient) -> None:
    job = generate_done(client, "a red circle")
    browser = {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}
    response = client.delete(f"/api/images/{job['image_ids'][0]}", headers=browser)
    assert response.status_code == 403
    csrf = client.cookies[CSRF_COOKIE]
    ok = client.delete(
        f"/api/images/{job['image_ids'][0]}", headers={**browser, "X-CSRF-Token": csrf}
    )
    assert ok.status_code == 204


def test_json_bodies_and_scripts_need_no_csrf_token(client: TestClient) -> None:
    browser = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    response = client.post(
        "/api/jobs", json={"kind": "generate", "prompt": "a circle"}, headers=browser
    )
    assert response.status_code == 201
    assert client.post("/sdapi/v1/interrupt").status_code == 200  # no browser headers


def test_upload_of_a_text_file_named_png_is_refused(client: TestClient) -> None:
    files = {"file": ("picture.png", b"just some text, honestly", "image/png")}
    response = client.post("/api/png-info", files=files)
    assert response.status_code == 422 and "not an image" in response.json()["detail"]
    response = client.post("/sdapi/v1/png-info", json={"image": b64(b"plain text")})
    assert response.status_code == 422 and "not an image" in response.json()["detail"]


def test_a_decompression_bomb_is_refused_before_decoding(client: TestClient) -> None:
    bomb = bomb_png()
    assert len(bomb) < 200
    response = client.post("/api/png-info", files={"file": ("bomb.png", bomb, "image/png")})
    assert response.status_code == 413 and "pixels" in response.json()["detail"]
    # Under Pillow's own limit but over the server's: refused from the header too.
    smaller = bomb_png(5000, 5000)
    response = client.post("/api/png-info", files={"file": ("b.png", smaller, "image/png")})
    assert response.status_code == 413 and "5000x5000" in response.json()["detail"]
    body = {"prompt": "x", "init_images": [b64(bomb)]}
    assert client.post("/sdapi/v1/img2img", json=body).status_code == 413


def test_an_oversize_body_is_413(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", max_upload_bytes=1000)
    with TestClient(create_app(settings)) as client:
        big = png_bytes(200, 200, (1, 2, 3)) + b"\0" * 4000
        response = client.post("/api/png-info", files={"file": ("big.png", big, "image/png")})
        assert response.status_code == 413 and "bytes" in response.json()["detail"]
        response = client.post("/sdapi/v1/png-info", json={"image": b64(big)})
        assert response.status_code == 413


@pytest.mark.stepped
def test_png_info_upload_reads_genlab_metadata(client: TestClient) -> None:
    job = generate_done(client, "a blue star", seed=21)
    data = client.get(f"/api/images/{job['image_ids'][0]}/file").content
    response = client.post("/api/png-info", files={"file": ("x.png", data, "image/png")})
    info = response.json()
    assert info["source"] == "genlab" and info["request"]["seed"] == 21
    assert "Seed: 21" in info["parameters"]


def test_validation_errors_are_one_line_detail_strings(client: TestClient) -> None:
    response = client.post("/api/jobs", json={"kind": "generate", "steps": "many"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "steps" in detail and "\n" not in detail


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::"])
def test_listening_beyond_loopback_needs_a_token(tmp_path: Path, host: str) -> None:
    with pytest.raises(InvalidRequest, match="needs a token"):
        Settings(data_dir=tmp_path, host=host)
    assert Settings(data_dir=tmp_path, host=host, token=TOKEN).token == TOKEN


def test_serve_refuses_to_start_without_a_token_beyond_loopback(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from genlab.cli.serve import serve

    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--host", "0.0.0.0", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "needs a token" in result.output
