"""The guard in front of every request: host, token, body size, CSRF, response headers.

- Host: without a token (loopback only), a request must name this machine in its Host
  header: 127.0.0.1 (any loopback address), localhost or [::1]. A web page re-pointing
  its own name at 127.0.0.1 (DNS rebinding) could otherwise read the studio, as its
  browser would take the answers for the page's own; its requests still carry the
  page's name as Host, and are refused with 421.
- Token: with `settings.token` set, a request needs `Authorization: Bearer <token>`,
  or the session cookie that `?token=<token>` (once, on any GET) or the login form
  sets. Without a token the server only listens on loopback (see settings).
- Body size: a body over `settings.max_body_bytes` is refused with 413 before the
  application reads it.
- CSRF, by double-submit cookie: every response sets a random `genlab_csrf` cookie
  when the browser has none. A state-changing request that a foreign web page could
  make a browser send (a form post, or any non-JSON body) must repeat that value in
  an `X-CSRF-Token` header or a `csrf_token` form field. Exempt: JSON bodies (a
  cross-site page cannot send one without a CORS preflight, which is never
  approved), Bearer requests (browsers never add that header by themselves) and
  clients that are not browsers at all (no session cookie, no Origin, no
  Sec-Fetch-Site: scripts and A1111 clients).
- Response headers: every answer forbids framing (clickjacking), MIME sniffing and
  sending the full URL as referrer, and carries a Content-Security-Policy: the pages
  only run the scripts under /static (no inline script), so injected markup cannot run
  code; previews arrive as data: URIs.

Written as plain ASGI so that streamed responses (SSE) pass through untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

from genlab.core.text import brief
from genlab.web.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "genlab_session"
CSRF_COOKIE = "genlab_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/login",)  # reachable without the token (it is where you give it)
# Stylesheet, scripts and icon hold nothing private; the sign-in page needs them.
OPEN_PREFIXES = ("/static/",)
# Where a refused browser navigation is sent to sign in, rather than shown JSON.
API_PREFIXES = ("/api/", "/sdapi/", "/files/", "/openapi.json")
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# Host names that only ever mean this machine (with loopback IP addresses, see
# `is_loopback_host`). A name in DNS could be re-pointed here by whoever owns it.
LOOPBACK_NAMES = frozenset({"localhost"})
# The pages load scripts and styles from /static only; htmx adds one <style> element
# and the templates set bar widths in style attributes, hence 'unsafe-inline' for
# styles (never for scripts). Step previews arrive as data: URIs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's API docs pages run an inline script and load Swagger UI / ReDoc from a CDN.
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
)


def session_value(token: str) -> str:
    """The cookie proving the token was given, without being the token itself."""
    return hmac.new(_utf8(token), b"genlab-session-v1", hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of any two strings. `hmac.compare_digest` refuses str
    with non-ASCII characters (a TypeError, so a 500), and requests carry anything."""
    return hmac.compare_digest(_utf8(given), _utf8(expected))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")  # lone surrogates too


def is_loopback_host(host: str) -> bool:
    """Whether a Host header names this machine: a loopback address or name, with or
    without a port, in any case (`127.0.0.1:7860`, `LOCALHOST`, `[::1]:7860`)."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 address: [::1] or [::1]:7860
        name, closed, port = host[1:].partition("]")
        if not closed or (port and not port.startswith(":")):
            return False
    else:
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        cookies = _cookies(headers.get("cookie", ""))
        set_cookies: list[str] = []
        send = _with_headers(send, scope["path"], set_cookies)

        # 1. Host (a browser always sends one; clients without one are not browsers)
        host = headers.get("host")
        if not self.settings.token and host is not None and not is_loopback_host(host):
            await _reply(
                send,
                421,
                f"host {brief(host)} is not allowed: without a token the studio answers "
                "only to 127.0.0.1, localhost or [::1]; use --token to serve other names",
            )
            return

        # 2. Token
        if self.settings.token and not _is_open(scope["path"]):
            granted = self._check_token(scope, headers, cookies)
            if granted is None and _is_page_visit(scope, headers):
                await _redirect_to_login(scope, send)
                return
            if granted is None:
                await _reply(
                    send,
                    401,
                    "a token is needed: Authorization: Bearer <token>",
                    {"www-authenticate": "Bearer"},
                )
                return
            if granted:
                set_cookies.append(session_cookie(self.settings))

        # 3. Body size, then the body itself (read once, replayed to the app)
        body = b""
        if scope["method"] in _UNSAFE:
            declared = headers.get("content-length", "")
            limit = self.settings.max_body_bytes
            if declared.isdigit() and int(declared) > limit:
                await _reply(send, 413, f"request body over {limit} bytes")
                return
            read = await _read_body(receive, limit)
            if read is None:
                await _reply(send, 413, f"request body over {limit} bytes")
                return
            body = read

            # 4. CSRF
            if not self._csrf_ok(headers, cookies, body):
                await _reply(
                    send,
                    403,
                    "CSRF check failed: send the genlab_csrf cookie's value as "
                    "X-CSRF-Token or csrf_token (or use a JSON body or a Bearer token)",
                )
                return
        csrf = cookies.get(CSRF_COOKIE)
        if not csrf:
            csrf = secrets.token_urlsafe(24)
            set_cookies.append(cookie(CSRF_COOKIE, csrf, self.settings, http_only=False))
        # Pages put this in their forms: request.state.csrf_token.
        scope.setdefault("state", {})["csrf_token"] = csrf
        await self.app(scope, _replay(body, receive), send)

    # -- token ---------------------------------------------------------------------------

    def _check_token(
        self, scope: Scope, headers: dict[str, str], cookies: dict[str, str]
    ) -> bool | None:
        """None: refused; False: allowed; True: allowed, and set the session cookie."""
        token = self.settings.token
        assert token
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and same_secret(given.strip(), token):
            return False
        if same_secret(cookies.get(SESSION_COOKIE, ""), session_value(token)):
            return False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["method"] == "GET" and same_secret((query.get("token") or [""])[0], token):
            return True
        return None

    # -- CSRF ----------------------------------------------------------------------------

    def _csrf_ok(self, headers: dict[str, str], cookies: dict[str, str], body: bytes) -> bool:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return True
        if headers.get("authorization", "").lower().startswith("bearer "):
            return True
        # Browsers send Origin on cross-site posts and Sec-Fetch-Site on all requests;
        # the session cookie is the one credential they attach by themselves.
        from_browser = (
            "origin" in headers or "sec-fetch-site" in headers or SESSION_COOKIE in cookies
        )
        if not from_browser:
            return True
        expected = cookies.get(CSRF_COOKIE, "")
        given = headers.get(CSRF_HEADER) or _form_field(content_type, headers, body, CSRF_FIELD)
        return bool(expected) and same_secret(given or "", expected)


def session_cookie(settings: Settings) -> str:
    assert settings.token
    return cookie(SESSION_COOKIE, session_value(settings.token), settings, http_only=True)


def cookie(name: str, value: str, settings: Settings, *, http_only: bool) -> str:
    """A Set-Cookie value: whole site, sent on top-level navigation (Lax), not to
    scripts when `http_only` (the CSRF cookie must be readable by the pages)."""
    parts = [f"{name}={value}", "Path=/", "SameSite=Lax"]
    if http_only:
        parts.append("HttpOnly")
    if settings.cookie_secure:
        parts.append("Secure")
    return "; ".join(parts)


def _with_headers(send: Send, path: str, set_cookies: list[str]) -> Send:
    """`send`, adding the security headers (those the app did not set itself) and the
    cookies the guard decided on to the start of the response."""
    policy = DOCS_CONTENT_SECURITY_POLICY if path in DOCS_PATHS else CONTENT_SECURITY_POLICY
    defaults = (*SECURITY_HEADERS, ("content-security-policy", policy))

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _value in headers}
            headers += [(k.encode(), v.encode()) for k, v in defaults if k.encode() not in present]
            headers += [(b"set-cookie", value.encode("latin-1")) for value in set_cookies]
            message["headers"] = headers
        await send(message)

    return send_with_headers


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:  # a malformed Cookie header counts as no cookies
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


def _form_field(content_type: str, headers: dict[str, str], body: bytes, name: str) -> str:
    if content_type == "application/x-www-form-urlencoded":
        return (parse_qs(body.decode("latin-1")).get(name) or [""])[0]
    if content_type == "multipart/form-data":
        return _multipart_field(headers.get("content-type", ""), body, name)
    return ""


def _multipart_field(content_type: str, body: bytes, name: str) -> str:
    """One small text field of a multipart body (the CSRF token), found by its name."""
    from email.parser import BytesParser
    from email.policy import HTTP

    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart():
        return ""
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True) or b""
            return payload.decode("utf-8", errors="replace").strip()
    return ""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later: wait for the disconnect, as the server would

    return replay


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _is_page_visit(scope: Scope, headers: dict[str, str]) -> bool:
    """A browser opening a page (not a script or API client): GET, asks for HTML."""
    return (
        scope["method"] in ("GET", "HEAD")
        and "text/html" in headers.get("accept", "")
        and not scope["path"].startswith(API_PREFIXES)
        and headers.get("hx-request") != "true"
    )


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    target = scope["path"] + (f"?{q.decode('latin-1')}" if (q := scope.get("query_string")) else "")
    location = "/login?" + urlencode({"next": target})
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _reply(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
