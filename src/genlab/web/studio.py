"""Everything a running server holds, in one object the routes (and pages) receive.

`start()` runs at application start-up, before any request: migrate the database,
make sure the local user exists, recover jobs a crash left running, sweep files a
crash left half-done, then start the worker. `stop()` stops the worker; a job it
was running goes back to the queue.

Read-heavy routes (the gallery) run their database work with `await studio.read(fn)`
on a small pool of its own rather than Starlette's 40-thread pool. On a 2-core
machine, twenty requests in twenty threads spend their time handing the GIL back and
forth: measured with `benchmarks/studio_load.py`, the gallery API served about 2.5x
more requests per second this way. Two threads still let one run SQLite (which
releases the GIL) while the other builds a response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select

from genlab.web import gallery, jobs
from genlab.web.db import make_engine, session_factory, upgrade
from genlab.web.models import LOCAL_USER, User
from genlab.web.progress import ProgressHub
from genlab.web.settings import Settings
from genlab.web.store import ImageStore
from genlab.web.worker import Worker

if TYPE_CHECKING:
    from genlab.services.generation import EngineCache

log = logging.getLogger(__name__)
T = TypeVar("T")


class Studio:
    def __init__(self, settings: Settings, *, engines: EngineCache | None = None):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.store = ImageStore(settings.data_dir)
        self.hub = ProgressHub()
        self.worker = Worker(self.sessions, self.store, self.hub, settings, engines)
        self.local_user_id: int | None = None
        self._reads = ThreadPoolExecutor(settings.read_threads, thread_name_prefix="genlab-read")

    def start(self, *, worker: bool = True) -> None:
        upgrade(self.engine)
        with self.sessions() as session:
            user = session.scalar(select(User).where(User.name == LOCAL_USER))
            if user is None:
                user = User(name=LOCAL_USER)
                session.add(user)
                session.commit()
            self.local_user_id = user.id
            requeued, failed = jobs.recover(session, self.settings.max_attempts)
            if requeued or failed:
                log.warning(
                    "after an unclean stop: requeued jobs %s, failed jobs %s", requeued, failed
                )
            self.store.sweep(gallery.referenced_paths(session))
        if worker:
            self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
        self._reads.shutdown(wait=True)
        self.engine.dispose()

    async def read(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run `fn` (database reads, rendering) on the read pool and wait for it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reads, partial(fn, *args, **kwargs))
