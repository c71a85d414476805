"""Everything a running server holds, in one object the routes (and pages) receive.

The data folder is private to the user who runs the server: it holds every prompt
and image, so it is made 0700 (its direct entries too: the database 0600), and
nothing inside can be reached by other users whatever mode a later file gets.

`start()` runs at application start-up, before any request: migrate the database and
make sure the local user exists (one process at a time). Then the process that takes
the leader lock (see `bridge`) recovers jobs a crash left running, sweeps files a crash
left half-done and starts the worker; any other process on the same data folder
follows it, relaying progress, and takes over if it goes. `stop()` stops the worker;
a job it was running goes back to the queue.

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
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select

from genlab.web import gallery, kinds, queue
from genlab.web.bridge import LEADER_LOCK, RETRY_S, RUN, START_LOCK, FileLock, Link, Relay
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
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class Studio:
    def __init__(self, settings: Settings, *, engines: EngineCache | None = None):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.store = ImageStore(settings.data_dir)
        self.hub = ProgressHub()
        runners = kinds.runners_by_kind()
        self.worker = Worker(
            self.sessions, self.store, self.hub, settings, engines, runners=runners
        )
        self.local_user_id: int | None = None
        self._reads = ThreadPoolExecutor(settings.read_threads, thread_name_prefix="genlab-read")
        self.run_dir = settings.data_dir / RUN
        self._leader = FileLock(self.run_dir / LEADER_LOCK)
        self._run_jobs = True
        self._relay: Relay | None = None
        self._link: Link | None = None
        self._watch: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, *, worker: bool = True) -> None:
        """Start serving; `worker=False` recovers and sweeps (when no server runs jobs on
        this folder) but runs none itself: for tools that only read or fill a folder."""
        with FileLock(self.run_dir / START_LOCK):  # two processes never migrate at once
            upgrade(self.engine)
            with self.sessions() as session:
                user = session.scalar(select(User).where(User.name == LOCAL_USER))
                if user is None:
                    user = User(name=LOCAL_USER)
                    session.add(user)
                    session.commit()
                self.local_user_id = user.id
        url = self.engine.url  # the database and run/ exist now
        keep_private(
            self.settings.data_dir, url.database if url.get_backend_name() == "sqlite" else None
        )
        self._run_jobs = worker
        if self._leader.acquire(wait=False):
            self._lead()
            return
        log.info("another server process runs the jobs of %s; following it", self.settings.data_dir)
        self._link = Link(self.run_dir, self.hub.deliver)
        self.hub.forward = self._link.send
        self._link.start()
        self._watch = threading.Thread(target=self._wait_to_lead, name="genlab-follow", daemon=True)
        self._watch.start()

    @property
    def leads(self) -> bool:
        """Whether this process runs the jobs."""
        return self._leader.held

    def _lead(self) -> None:
        with self.sessions() as session:
            requeued, failed = queue.recover(session, self.settings.max_attempts)
            if requeued or failed:
                log.warning(
                    "after an unclean stop: requeued jobs %s, failed jobs %s", requeued, failed
                )
            # Files no image row and no job input refers to any more.
            self.store.sweep(gallery.image_paths(session) | queue.input_paths(session))
        if not self._run_jobs:
            self._leader.release()  # running no jobs, it need not keep others from it
            return
        self._relay = Relay(self.run_dir, self.hub.deliver, self.hub.snapshot)
        self._relay.start()
        self.hub.forward = self._relay.broadcast
        self.hub.on_wake = self.worker.wake
        self.worker.start()

    def _wait_to_lead(self) -> None:
        """A follower takes over when the leader's process ends, however it ends."""
        while not self._stopping.wait(RETRY_S):
            if self._leader.acquire(wait=False):
                log.warning("the leading server process is gone; this one runs the jobs now")
                if self._link is not None:
                    self._link.stop()
                self._lead()
                return

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.join(5)
        if self._link is not None:
            self._link.stop()
        self.worker.stop()
        if self._relay is not None:
            self._relay.stop()
        self._leader.release()
        self._reads.shutdown(wait=True)
        self.engine.dispose()

    async def read(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run `fn` (database reads, rendering) on the read pool and wait for it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reads, partial(fn, *args, **kwargs))


def keep_private(data_dir: Path, database: str | None = None) -> None:
    """Make the data folder and its direct entries this user's alone (0700 folders,
    0600 files), and the SQLite file `database` wherever it is. SQLite gives the journal
    files it creates the database's mode. Symbolic links are left alone: chmod would
    follow them to whatever they point at."""
    targets: list[tuple[Path, int]] = [(data_dir, PRIVATE_DIR)]
    with os.scandir(data_dir) as entries:
        for entry in entries:
            if not entry.is_symlink():
                mode = PRIVATE_DIR if entry.is_dir() else PRIVATE_FILE
                targets.append((Path(entry.path), mode))
    if database:
        for suffix in ("", "-wal", "-shm"):
            path = Path(database + suffix)
            if path.is_file() and not path.is_symlink():
                targets.append((path, PRIVATE_FILE))
    for path, mode in targets:
        try:
            path.chmod(mode)
        except OSError as err:  # not ours (a shared folder): say so, serve anyway
            log.warning("cannot make %s private (mode %o): %s", path, mode, err.strerror)
