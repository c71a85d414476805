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
- **Strangers cost little.** Any local user can connect to the relay's port. A
  connection must give the secret in its first line, within HELLO_TIMEOUT_S and
  HELLO_BYTES, before it gets a thread of its own; at most MAX_HELLOS wait for that at
  once (others are closed at once) and at most MAX_PEERS followers are kept. A line,
  from anyone, over MAX_LINE_BYTES ends its connection: memory stays bounded whatever
  arrives.
- **The database stays the truth.** Events only say what changed; a lost one delays a
  watcher until its next read of the job's row, it never loses work.

On a system without `fcntl` (Windows) the lock is not available: one process per data
folder, and `--workers` above 1 is refused.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import struct
import threading
import time
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
# The largest message. A step preview is the biggest: a PNG of at most 256x256 pixels
# (worker.PREVIEW_SIDE), 4 channels, about 260 KB even for noise that does not
# compress, as base64 in a data URI (4/3): 350 KB. A MiB leaves room to spare.
MAX_LINE_BYTES = 1 << 20
HELLO_BYTES = 1024  # the first line, {"secret": "<32 hex digits>"}, is 46 bytes
HELLO_TIMEOUT_S = 2.0  # a follower sends its secret as soon as it connects
MAX_HELLOS = 8  # connections waiting to give the secret, each on a short-lived thread
MAX_PEERS = 64  # followers: one per server process on the data folder
READ_BYTES = 64 * 1024
MULTIPROCESS = fcntl is not None

log = logging.getLogger(__name__)
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
        if len(line) > MAX_LINE_BYTES and "partial" in message:
            # A cancelled job's partial images are a courtesy to A1111 callers; the
            # cancellation itself must reach every process.
            log.warning("a cancelled job's partial images were too large to relay")
            line = (
                json.dumps({k: v for k, v in message.items() if k != "partial"}) + "\n"
            ).encode()
        if len(line) > MAX_LINE_BYTES:  # the other side would drop the connection
            log.warning("a %s message of %d bytes was not relayed", _kind(message), len(line))
            return True
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


class _LineReader:
    """Lines from a connection, none longer than the caller allows: what is buffered
    never passes that limit by more than one read, whatever the other side sends."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self._buffer = bytearray()

    def readline(self, limit: int, deadline: float | None = None) -> bytes | None:
        """The next line, without its newline. None when the connection ends, breaks or
        passes `deadline` (time.monotonic()), or when the line would pass `limit` bytes."""
        searched = 0
        while (end := self._buffer.find(b"\n", searched)) < 0:
            if len(self._buffer) > limit:
                return None
            searched = len(self._buffer)
            try:
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self.conn.settimeout(remaining)
                chunk = self.conn.recv(READ_BYTES)
            except OSError:  # socket.timeout included
                return None
            if not chunk:
                return None
            self._buffer += chunk
        if end > limit:
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def messages(self) -> Any:
        """JSON objects until the connection ends or sends a line over MAX_LINE_BYTES."""
        while (line := self.readline(MAX_LINE_BYTES)) is not None:
            with suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict):
                    yield message


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
        self._hellos = threading.BoundedSemaphore(MAX_HELLOS)

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
        with self._lock:  # from here on no follower is admitted (see _serve)
            server, self._server = self._server, None
        if server is not None:
            # close() alone leaves a thread blocked in accept() holding the socket, still
            # listening: a follower reconnecting at once would be let in. shutdown() ends
            # the accept (on Linux; elsewhere the admission check in _serve still holds).
            with suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
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
            if not self._hellos.acquire(blocking=False):
                conn.close()  # too many strangers at once; a follower retries in RETRY_S
                continue
            try:
                threading.Thread(
                    target=self._serve, args=(conn,), name="genlab-relay-hello", daemon=True
                ).start()
            except RuntimeError:  # no thread to be had: refuse this one, keep accepting
                self._hellos.release()
                conn.close()

    def _serve(self, conn: socket.socket) -> None:
        reader = _LineReader(conn)
        try:
            hello = reader.readline(HELLO_BYTES, time.monotonic() + HELLO_TIMEOUT_S)
        finally:
            self._hellos.release()
        if hello is None or not self._knows_secret(hello):
            conn.close()  # not one of ours
            return
        threading.current_thread().name = "genlab-relay-peer"
        _wait_to_read(conn)
        peer = _Peer(conn)
        with self._lock:
            if self._server is None:  # stopped meanwhile
                peer.close()
                return
            admitted = len(self._peers) < MAX_PEERS
            if admitted:
                peer.send(self.snapshot())
                self._peers.append(peer)
        if not admitted:
            log.warning("the relay already has %d followers; refusing one more", MAX_PEERS)
            peer.close()
            return
        try:
            for message in reader.messages():
                self.deliver(message)
                self.broadcast(message, origin=peer)
        finally:
            self._drop(peer)

    def _knows_secret(self, hello: bytes) -> bool:
        try:
            given = json.loads(hello).get("secret")
        except (ValueError, AttributeError):  # not JSON, or not an object
            return False
        if not isinstance(given, str):
            return False
        # Constant time, on bytes: compare_digest refuses non-ASCII str.
        return secrets.compare_digest(
            given.encode("utf-8", errors="surrogatepass"), self.secret.encode()
        )

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
                for message in _LineReader(conn).messages():
                    self.deliver(message)
                    self.connected.set()  # the first message: the leader knows of us
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


def _kind(message: Message) -> str:
    return str(message.get("event") or message.get("control") or "relay")[:40]
