"""/login and /logout: trade the server token for a session cookie in a browser.

The form is a plain HTML post on purpose: it works before any script loads. A browser
opening any page without the token is sent here (see security.Guard).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from genlab.web.deps import StudioDep
from genlab.web.routes.pages.shared import render
from genlab.web.security import SESSION_COOKIE, same_secret, session_cookie

router = APIRouter(tags=["auth"])


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, next)


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
    if not same_secret(token, expected):
        return _page(request, next, error="That is not this server's token.", status=401)
    response = RedirectResponse(_local(next), status_code=303)
    response.headers.append("set-cookie", session_cookie(studio.settings))
    return response


@router.post("/logout", include_in_schema=False)
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _page(request: Request, next: str, *, error: str = "", status: int = 200) -> HTMLResponse:
    return render(request, "login.html", {"next": _local(next), "error": error}, status=status)


def _local(target: str) -> str:
    """Only paths on this server: `//evil.example` or `https://…` become `/`."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
