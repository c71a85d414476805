"""The studio's HTTP perimeter: which Host a token-less server answers to, the headers
on every response, tokens that are not ASCII, and png-info without decoding pixels."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genlab.core.errors import InvalidRequest
from genlab.web import security
from genlab.web.app import STATIC, create_app
from genlab.web.security import CSRF_COOKIE, is_loopback_host
from genlab.web.settings import Settings

TOKEN = "perimeter-token-123"
TEMPLATES = Path(security.__file__).parent / "templates"
# What the server answers to outside the tests (conftest adds the test client's name).
LOOPBACK_NAMES = security.LOOPBACK_NAMES
PARAMETERS = (
    "a red circle on a blue background\n"
    "Negative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x64, Model: builtin-shapes"
)


@pytest.fixture
def guarded(tmp_path: Path):
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", token=TOKEN))) as client:
        yield client


# -- Host (DNS rebinding) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:7860",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "[::1].evil.example",
        "0.0.0.0:7860",
        "192.168.1.5:7860",
        "",
    ],
)
def test_without_a_token_a_foreign_host_is_refused(client: TestClient, host: str) -> None:
    for method, path in [("GET", "/api/jobs"), ("GET", "/"), ("POST", "/api/jobs")]:
        response = client.request(method, path, headers={"Host": host}, json={"prompt": "x"})
        assert response.status_code == 421, (host, path)
        detail = response.json()["detail"]
        assert "host" in detail and "not allowed" in detail and "--token" in detail
        assert "\n" not in detail


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:7860",
        "localhost",
        "LocalHost:7860",
        "[::1]",
        "[::1]:7860",
        "127.0.0.2:80",
        "::1",
    ],
)
def test_without_a_token_loopback_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/api/jobs", headers={"Host": host}).status_code == 200


def test_the_test_clients_name_is_not_a_loopback_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "LOOPBACK_NAMES", LOOPBACK_NAMES)
    assert not is_loopback_host("testserver")
    assert is_loopback_host("localhost:7860") and not is_loopback_host("[::1]x")


def test_with_a_token_any_host_may_be_used(guarded: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}", "Host": "studio.example.org"}
    assert guarded.get("/api/jobs", headers=bearer).status_code == 200
    assert guarded.get("/api/jobs", headers={"Host": "studio.example.org"}).status_code == 401


# -- headers on every response ------------------------------------------------------------


def assert_protected(response, docs: bool = False) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    policy = dict(
        (part.split()[0], part.split()[1:])
        for part in headers["content-security-policy"].split(";")
    )
    assert policy["frame-ancestors"] == ["'none'"]
    if not docs:
        assert policy["script-src"] == ["'self'"]  # no inline script, no eval
        assert "data:" in policy["img-src"]  # step previews


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for response in [
        page,
        client.get("/api/jobs"),
        client.get("/static/studio.js"),
        client.get("/api/jobs/12345"),  # 404
        client.get("/", headers={"Host": "evil.example"}),  # refused by the guard
    ]:
        assert_protected(response)
    assert_protected(client.get("/docs"), docs=True)


def test_refusals_of_a_guarded_server_carry_them_too(guarded: TestClient) -> None:
    assert_protected(guarded.get("/api/jobs"))  # 401
    html = {"Accept": "text/html"}
    assert_protected(guarded.get("/gallery", headers=html, follow_redirects=False))  # 303


def test_the_pages_need_nothing_the_policy_forbids() -> None:
    """Scripts only from files (a JSON data block is not run), no inline handlers, no
    javascript: URLs, no eval: what `script-src 'self'` allows."""
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "javascript:" not in text, template.name
    script = (STATIC / "studio.js").read_text()
    assert "eval(" not in script and "new Function" not in script


# -- tokens that are not ASCII ----------------------------------------------------------


@pytest.mark.parametrize("value", ["Bearer é-not-the-token".encode(), b"Bearer \xff\xfe"])
def test_a_non_ascii_bearer_token_is_401(guarded: TestClient, value: bytes) -> None:
    response = guarded.get("/api/jobs", headers={"Authorization": value})
    assert response.status_code == 401 and "token" in response.json()["detail"]


@pytest.mark.parametrize("query", ["token=%FF", "token=%C3%A9t%C3%A9-tokens", "token=%ED%A0%80"])
def test_a_non_ascii_token_in_the_url_is_401(guarded: TestClient, query: str) -> None:
    assert guarded.get(f"/api/jobs?{query}").status_code == 401


def test_a_non_ascii_session_cookie_is_401(guarded: TestClient) -> None:
    response = guarded.get("/api/jobs", headers={"Cookie": "genlab_session=\xe9t\xe9".encode()})
    assert response.status_code == 401


def test_a_non_ascii_token_on_the_sign_in_form_says_so_on_the_form(guarded: TestClient) -> None:
    guarded.get("/login")
    csrf = guarded.cookies[CSRF_COOKIE]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for token in ["%C3%A9", "t%C3%B6k%C3%A9n-p%C3%A9rim%C3%A8tre", "%FF%FE", "%ED%B3%BF"]:
        body = f"token={token}&csrf_token={csrf}"
        response = guarded.post("/login", content=body, headers=form)
        assert response.status_code == 401 and "not this server&#39;s token" in response.text


def test_a_non_ascii_csrf_token_is_403(client: TestClient) -> None:
    client.get("/")
    browser = {"Origin": "http://evil.example", "X-CSRF-Token": "\xe9t\xe9".encode("latin-1")}
    response = client.post("/generate", data={"prompt": "x"}, headers=browser)
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


@pytest.mark.parametrize("token", ["pässwörter-lang", "with a space", "tab\tseparated"])
def test_a_token_must_be_printable_ascii(tmp_path: Path, token: str) -> None:
    with pytest.raises(InvalidRequest, match="printable ASCII"):
        Settings(data_dir=tmp_path, token=token)


# -- png-info reads metadata, never pixels ----------------------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_with(pixels: bytes, *, before: bytes = b"", after: bytes = b"", side: int = 4096) -> bytes:
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + before
        + chunk(b"IDAT", pixels)
        + after
        + chunk(b"IEND", b"")
    )


def test_png_info_reads_text_without_decoding_the_pixels(client: TestClient) -> None:
    """4096x4096 pixels whose data is not even zlib: decoding would fail (and take
    48 MB); the metadata around it still reads, after the pixel data too."""
    garbage = b"these bytes are no compressed pixels"
    compressed = b"comment\x00\x00" + zlib.compress(b"zipped words")
    data = png_with(
        garbage,
        before=chunk(b"tEXt", b"Software\x00genlab test"),
        after=chunk(b"tEXt", b"parameters\x00" + PARAMETERS.encode()) + chunk(b"zTXt", compressed),
    )
    response = client.post("/api/png-info", files={"file": ("big.png", data, "image/png")})
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["source"] == "a1111" and info["parameters"] == PARAMETERS
    assert info["request"]["seed"] == 42 and info["request"]["prompt"].startswith("a red circle")


def test_png_info_refuses_a_flood_of_compressed_text(client: TestClient) -> None:
    """Each zTXt chunk inflates 1,000 bytes to a MB: past 8 MB of text, refused."""
    flood = b"".join(
        chunk(b"zTXt", f"note{i}".encode() + b"\x00\x00" + zlib.compress(b"a" * 1_000_000, 9))
        for i in range(10)
    )
    data = png_with(b"x", after=flood, side=16)
    response = client.post("/api/png-info", files={"file": ("text.png", data, "image/png")})
    assert response.status_code == 413 and "metadata text" in response.json()["detail"]


def test_png_info_still_reads_jpeg_and_webp_metadata(client: TestClient, tmp_path: Path) -> None:
    from PIL import Image

    from genlab.core.imageio import save_image

    for suffix, mime in [(".jpg", "image/jpeg"), (".webp", "image/webp")]:
        path = save_image(
            Image.new("RGB", (32, 32), (9, 9, 9)), tmp_path / f"x{suffix}", PARAMETERS
        )
        files = {"file": (path.name, path.read_bytes(), mime)}
        info = client.post("/api/png-info", files=files).json()
        assert info["parameters"] == PARAMETERS and info["request"]["seed"] == 42, suffix


def test_png_info_refuses_a_corrupt_compressed_text_chunk(client: TestClient) -> None:
    pixels = zlib.compress(b"\x00" * (1 + 16 * 3) * 16)  # 16 rows: filter byte, RGB
    broken = chunk(b"zTXt", b"comment\x00\x07" + zlib.compress(b"x"))  # method 7: none such
    data = png_with(pixels, after=broken, side=16)
    response = client.post("/api/png-info", files={"file": ("z.png", data, "image/png")})
    assert response.status_code == 422 and "zTXt" in response.json()["detail"]
