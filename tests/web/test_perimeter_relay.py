"""The progress relay against local users who do not know its secret (over real
loopback sockets): their lines are cut off at a bound, they get no thread of their own
beyond a few at once, and the followers keep working through it all."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.web import bridge
from genlab.web.bridge import RELAY_FILE
from genlab.web.progress import ProgressHub
from genlab.web.worker import PREVIEW_SIDE, preview_image
from tests.web.conftest import wait_until
from tests.web.test_processes import Pair

FLOOD_CAP = 64 * 1024 * 1024  # what a test sends at most before calling it unbounded
BOUNDED = 32 * 1024 * 1024  # kernel buffers on both sides hold a few MB at most


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    # Strangers are cut off by the bounds under test, never by the clock.
    monkeypatch.setattr(bridge, "HELLO_TIMEOUT_S", 600.0, raising=False)
    pair = Pair(tmp_path / "run")
    try:
        yield pair
    finally:
        pair.close()


def relay_address(pair: Pair) -> tuple[dict, tuple[str, int]]:
    address = json.loads((pair.run_dir / RELAY_FILE).read_text())
    return address, ("127.0.0.1", address["port"])


def flood(conn: socket.socket) -> int:
    """Send one endless line until the other side hangs up; the bytes that went out."""
    block, sent = b"x" * (256 * 1024), 0
    conn.settimeout(30)  # a relay that stops reading without hanging up fails the test
    try:
        while sent < FLOOD_CAP:
            sent += conn.send(block)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def closed(conn: socket.socket) -> bool:
    """Whether the relay hung up on this connection (waiting up to 30 s for it)."""
    conn.settimeout(30)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


def still_open(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        conn.recv(1)
    except BlockingIOError:
        return True  # nothing to read, and not closed
    except OSError:
        return False
    return False


def hello_threads() -> int:
    return sum(t.name == "genlab-relay-hello" for t in threading.enumerate())


def test_a_stranger_sending_an_endless_first_line_is_cut_off(pair: Pair) -> None:
    _address, port = relay_address(pair)
    with socket.create_connection(port, 5) as stranger:
        assert flood(stranger) < BOUNDED  # not read to the end: dropped at the bound
        assert closed(stranger)
    wait_until(lambda: hello_threads() == 0, what="the stranger's thread to end")


def test_a_follower_sending_an_endless_line_is_dropped(pair: Pair) -> None:
    address, port = relay_address(pair)
    with socket.create_connection(port, 5) as rogue:
        rogue.sendall((json.dumps({"secret": address["secret"]}) + "\n").encode())
        rogue.settimeout(30)
        assert rogue.recv(65536).endswith(b"\n")  # the snapshot: a follower now
        assert flood(rogue) < BOUNDED
        assert closed(rogue)
    # The other follower still hears the leader.
    pair.leader.started(3, total=10)
    pair.leader.step(3, 2, 10)
    wait_until(lambda: getattr(pair.follower.live(), "step", 0) == 2, what="progress")


def test_many_strangers_get_few_threads_and_followers_still_connect(pair: Pair) -> None:
    _address, port = relay_address(pair)
    before = threading.active_count()
    waiting = [socket.create_connection(port, 5) for _ in range(bridge.MAX_HELLOS)]
    try:
        # Each of these waits for a thread that the silent ones above hold: closed.
        for _ in range(3 * bridge.MAX_HELLOS):
            with socket.create_connection(port, 5) as extra:
                assert closed(extra)
        assert hello_threads() == bridge.MAX_HELLOS
        assert threading.active_count() <= before + bridge.MAX_HELLOS
        assert all(still_open(conn) for conn in waiting)  # held, not timed out
    finally:
        for conn in waiting:
            conn.close()
    late = ProgressHub()
    link = pair.follow(late)  # the strangers gone, a follower gets in
    try:
        pair.leader.started(4, total=5)
        wait_until(lambda: late.live() is not None, what="the late follower hears the leader")
    finally:
        link.stop()


@pytest.mark.parametrize(
    "hello", ['{"secret": "\\ud800"}', '{"secret": "\\u00e9"}', '["secret"]', '{"secret": null}']
)
def test_an_odd_secret_is_refused_and_the_relay_goes_on(pair: Pair, hello: str) -> None:
    _address, port = relay_address(pair)
    with socket.create_connection(port, 5) as stranger:
        stranger.sendall(f'{hello}\n{{"control": "cancel", "job_id": 3}}\n'.encode())
        assert closed(stranger)
    assert not pair.leader.cancel_requested(3)
    wait_until(lambda: hello_threads() == 0, what="the stranger's thread to end")


def test_followers_beyond_the_limit_are_refused(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "MAX_PEERS", 1)  # the pair's follower is the one
    address, port = relay_address(pair)
    with socket.create_connection(port, 5) as extra:
        extra.sendall((json.dumps({"secret": address["secret"]}) + "\n").encode())
        assert closed(extra)  # without a snapshot
    pair.leader.started(6, total=5)
    wait_until(lambda: pair.follower.live() is not None, what="the follower still hears")


def test_the_largest_preview_still_travels(pair: Pair) -> None:
    """A preview of noise (PNG cannot compress it) in RGBA at full preview size: the
    worst case the line bound was sized for."""
    noise = np.random.default_rng(0).integers(0, 256, (PREVIEW_SIDE, PREVIEW_SIDE, 4))
    uri = preview_image(Image.fromarray(noise.astype(np.uint8), "RGBA"))
    assert len(uri) * 2 < bridge.MAX_LINE_BYTES  # room to spare
    pair.leader.started(8, total=10)
    pair.leader.preview(8, 5, uri)
    wait_until(lambda: getattr(pair.follower.live(), "preview_step", 0) == 5, what="preview")
    buffer = io.BytesIO(pair.follower.live().preview_png)
    assert Image.open(buffer).size == (PREVIEW_SIDE, PREVIEW_SIDE)
