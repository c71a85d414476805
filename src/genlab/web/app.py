"""`create_app(settings)`: the studio's FastAPI application.

Nothing is created at import. The Studio (database, store, progress hub, worker)
is built with the app and started in its lifespan: migrations, crash recovery and
the worker thread run when the server starts, and the worker stops with it.
For `uvicorn --factory genlab.web.app:app_from_env`, settings come from GENLAB_*
environment variables; `genlab serve --workers N` starts its processes that way, with
every setting in GENLAB_SETTINGS.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.web.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"  # the pages' CSS, script and vendored htmx

if TYPE_CHECKING:
    from fastapi import FastAPI

    from genlab.services.generation import EngineCache


def create_app(settings: Settings | None = None, *, engines: EngineCache | None = None) -> FastAPI:
    """The application. `engines` lets several apps in one process share loaded
    models (the worker otherwise keeps its own cache)."""
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool

    from genlab.core.version import __version__
    from genlab.web import errors
    from genlab.web.recycle import RecycleConnections
    from genlab.web.routes import (
        a1111,
        a1111_extras,
        a1111_lists,
        auth,
        images,
        jobs,
        meta,
        pages,
        styles,
    )
    from genlab.web.security import Guard
    from genlab.web.studio import Studio

    settings = settings or Settings()
    studio = Studio(settings, engines=engines)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(studio.start)
        try:
            yield
        finally:
            await run_in_threadpool(studio.stop)

    app = FastAPI(
        title="genlab studio",
        version=__version__,
        description="Jobs, gallery and an AUTOMATIC1111-compatible API over genlab.",
        lifespan=lifespan,
    )
    app.state.studio = studio
    errors.install(app)
    for module in (jobs, images, meta, styles, a1111, a1111_lists, a1111_extras, auth, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, settings=settings)
    if settings.workers > 1:
        app.add_middleware(RecycleConnections)
    return app


def app_from_env() -> FastAPI:
    settings = Settings.from_env()
    if settings.workers > 1:  # one of `genlab serve --workers N`'s processes
        _stop_with_parent()
    return create_app(settings)


def _stop_with_parent(poll_s: float = 1.0) -> None:
    """Shut down cleanly (SIGTERM: the running job goes back to the queue) when the
    process that started this one is gone. Killed outright, `genlab serve` cannot stop
    its workers, and they would go on holding the port and the data folder."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.warning("the genlab serve process that started this one is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="genlab-parent", daemon=True).start()
