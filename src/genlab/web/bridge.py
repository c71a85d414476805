"""Several server processes on one data folder: one runs the jobs, all serve requests.

`genlab serve --workers N` starts N processes behind one port, so that gallery reads
use more than one core (one Python process holds one core at most). Two `genlab serve`
on the same folder cooperate the same way.

- **One leader.** Whoever holds an exclusive lock on `run/leader.lock` in the data
  folder recovers jobs a crash left running, sweeps the store, and runs the worker.
  The lock is the operating system's: it goes with its process, however that process
  ends, and a follower that takes it over does the same crash recovery a restart does.
- **Progress relay.** The leader listens on a loopback port (written, with a random
  secret, to `run/relay.json`, readable by this user only). Followers connect and
  receive every progress event as a JSON line; what a follower publishes itself (a
  queued job cancelled, a cancel or wake request) goes to the leader, which passes it
  on to everyone else. Each process then delivers events to its own subscribers
  (Server-Sent Events, A1111 callers waiting for a result) through its `ProgressHub`.
- **The database stays the truth.** Events only say what changed; a lost one delays a
  watcher until its next read of the job's row, it never loses work.

On a system without `fcntl` (Windows) the lock is not available: one process per data
folder, and `--workers` above 1 is refused.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import struct
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

RUN = "run"  # the data folder's area for what only lives while servers run
LEADER_LOCK = "leader.lock"
START_LOCK = "start.lock"
RELAY_FILE = "relay.json"
SEND_TIMEOUT_S = 2.0  # a follower that stops reading is dropped, not waited for
RETRY_S = 0.5  # how soon a follower reconnects, or tries the leader lock again
MULTIPROCESS = fcntl is not None

Message = dict[str, Any]


class FileLock:
    """An exclusive lock on a file, held by this process until released or its end."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: bool) -> bool:
        if self._fd is not None:
            return True
        if fcntl is None:
            self._fd = -1  # nothing to lock with: the single process is the leader
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and fd >= 0:
            os.close(fd)  # closing the descriptor drops the lock

    def __enter__(self) -> FileLock:
        self.acquire(wait=True)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class _Peer:
    """One connection, written to by any thread."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, message: Message) -> bool:
        line = (json.dumps(message) + "\n").encode()
        try:
            with self.lock:
                self.conn.sendall(line)
        except OSError:
            return False
        return True

    def close(self) -> None:
        with suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)
        self.conn.close()


def _lines(conn: socket.socket) -> Any:
    """JSON messages from a connection until it closes."""
    with conn.makefile("rb") as stream:
        for line in stream:
            with suppress(ValueError):
                yield json.loads(line)


class Relay:
    """The leader's side: accepts followers and passes events between all of them.

    `deliver` hands a follower's message to this process; `snapshot` gives what a new
    follower needs to know at once (the running job's state)."""

    def __init__(
        self, run_dir: Path, deliver: Callable[[Message], None], snapshot: Callable[[], Message]
    ):
        self.path = run_dir / RELAY_FILE
        self.deliver = deliver
        self.snapshot = snapshot
        self.secret = secrets.token_hex(16)
        self._peers: list[_Peer] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None

    def start(self) -> None:
        server = socket.create_server(("127.0.0.1", 0))
        self._server = server
        port = server.getsockname()[1]
        temporary = self.path.with_name(f".{RELAY_FILE}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"port": port, "secret": self.secret, "pid": os.getpid()}, handle)
        os.replace(temporary, self.path)
        threading.Thread(target=self._accept, name="genlab-relay", daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            peers, self._peers = self._peers, []
        for peer in peers:
            peer.close()
        with suppress(OSError, ValueError), self.path.open() as handle:
            if json.load(handle).get("pid") == os.getpid():
                self.path.unlink()

    def broadcast(self, message: Message, origin: _Peer | None = None) -> None:
        # Sent under the lock, so that a follower joining meanwhile gets each event
        # either in its snapshot or after it, never lost in between.
        with self._lock:
            lost = [p for p in self._peers if p is not origin and not p.send(message)]
        for peer in lost:
            self._drop(peer)

    def _accept(self) -> None:
        while (server := self._server) is not None:
            try:
                conn, _address = server.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(SEND_TIMEOUT_S)
        messages = _lines(conn)
        try:
            hello = next(messages, None)
        except OSError:
            hello = None
        if not isinstance(hello, dict) or not secrets.compare_digest(
            str(hello.get("secret", "")).encode(), self.secret.encode()
        ):
            conn.close()  # not one of ours
            return
        _wait_to_read(conn)
        peer = _Peer(conn)
        with self._lock:
            peer.send(self.snapshot())
            self._peers.append(peer)
        try:
            for message in messages:
                self.deliver(message)
                self.broadcast(message, origin=peer)
        except OSError:
            pass
        finally:
            self._drop(peer)

    def _drop(self, peer: _Peer) -> None:
        with self._lock:
            if peer in self._peers:
                self._peers.remove(peer)
        peer.close()


class Link:
    """A follower's side: stays connected to whoever leads, reconnecting as needed."""

    def __init__(self, run_dir: Path, deliver: Callable[[Message], None]):
        self.path = run_dir / RELAY_FILE
        self.deliver = deliver
        self._peer: _Peer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="genlab-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        peer, self._peer = self._peer, None
        if peer is not None:
            peer.close()
        if self._thread is not None:
            self._thread.join(5)

    def send(self, message: Message) -> None:
        """To the leader; dropped while there is none (the database still has the truth)."""
        peer = self._peer
        if peer is not None and not peer.send(message):
            peer.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            conn = self._connect()
            if conn is None:
                self._stop.wait(RETRY_S)
                continue
            peer = _Peer(conn)
            self._peer = peer
            try:
                for message in _lines(conn):
                    self.deliver(message)
                    self.connected.set()  # the first message: the leader knows of us
            except OSError:
                pass
            finally:
                self.connected.clear()
                self._peer = None
                peer.close()
                self.deliver({"control": "live", "live": None})  # the leader is gone

    def _connect(self) -> socket.socket | None:
        try:
            address = json.loads(self.path.read_text())
            conn = socket.create_connection(("127.0.0.1", address["port"]), SEND_TIMEOUT_S)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no leader yet, or one that just went
        try:
            conn.sendall((json.dumps({"secret": address["secret"]}) + "\n").encode())
        except OSError:
            conn.close()
            return None
        _wait_to_read(conn)
        return conn


def _wait_to_read(conn: socket.socket) -> None:
    """Reads wait as long as the other side is quiet; a send that cannot go out for
    SEND_TIMEOUT_S fails instead, so one stuck process never stalls the others."""
    conn.settimeout(None)
    timeout = struct.pack("ll", int(SEND_TIMEOUT_S), 0)
    with suppress(OSError):  # without it a stuck peer blocks its sender; still correct
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
