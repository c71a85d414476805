"""Everything a running server holds, in one object the routes (and pages) receive.

`start()` runs at application start-up, before any request: migrate the database,
make sure the local user exists, recover jobs a crash left running, sweep files a
crash left half-done, then start the worker. `stop()` stops the worker; a job it
was running goes back to the queue.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

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
        self.engine.dispose()
