"""Every error becomes a JSON body `{"detail": "<one line>"}` (A1111 clients read
`detail` too) with a 4xx status for anything the client can fix."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from genlab.core.errors import GenlabError
from genlab.web.gallery import Forbidden, NotFound
from genlab.web.queue import JobConflict
from genlab.web.store import PathOutsideStore
from genlab.web.uploads import UploadRejected

log = logging.getLogger(__name__)


def status_of(err: GenlabError) -> int:
    if isinstance(err, (NotFound, PathOutsideStore)):
        return 404  # a path outside the store is, for the client, simply not there
    if isinstance(err, Forbidden):
        return 403
    if isinstance(err, JobConflict):
        return 409
    if isinstance(err, UploadRejected) and err.too_large:
        return 413
    return 422  # the request was understood but cannot be done as asked


def install(app: FastAPI) -> None:
    @app.exception_handler(GenlabError)
    async def genlab_error(_request: Request, err: GenlabError) -> JSONResponse:
        return JSONResponse({"detail": one_line(str(err))}, status_code=status_of(err))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_line(err)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": one_line(str(err.detail))},
            status_code=err.status_code,
            headers=getattr(err, "headers", None),
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(err).__name__}"}, status_code=500)


def validation_line(err: RequestValidationError) -> str:
    parts = []
    for item in err.errors()[:3]:
        location = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{location}: {item.get('msg', 'invalid')}" if location else item["msg"])
    return one_line("; ".join(parts) or "invalid request")


def one_line(text: str) -> str:
    return " ".join(text.split()) or "error"
