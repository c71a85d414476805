"""/login and /logout: trade the server token for a session cookie in a browser.

The form is plain HTML on purpose: it must work before any page or script loads.
"""

from __future__ import annotations

import hmac
from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from genlab.web.deps import StudioDep
from genlab.web.security import CSRF_FIELD, SESSION_COOKIE, session_cookie

router = APIRouter(tags=["auth"])

_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genlab: sign in</title></head>
<body><form method="post" action="/login">
<h1>genlab studio</h1><p>{message}</p>
<label>Token <input type="password" name="token" autocomplete="current-password" autofocus>
</label>
<input type="hidden" name="{csrf_field}" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button></form></body></html>
"""


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return HTMLResponse(_page(request, "Give the token the server printed at start-up.", next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    studio: StudioDep,
    token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = studio.settings.token
    if not expected:
        return RedirectResponse(_local(next), status_code=303)  # nothing to sign in to
    if not hmac.compare_digest(token, expected):
        raise HTTPException(status_code=401, detail="wrong token")
    response = RedirectResponse(_local(next), status_code=303)
    response.headers.append("set-cookie", session_cookie(studio.settings))
    return response


@router.post("/logout", include_in_schema=False)
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _page(request: Request, message: str, next: str) -> str:
    csrf = getattr(request.state, "csrf_token", "")
    return _FORM.format(
        message=escape(message), csrf_field=CSRF_FIELD, csrf=escape(csrf), next=escape(_local(next))
    )


def _local(target: str) -> str:
    """Only paths on this server: `//evil.example` or `https://…` become `/`."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
