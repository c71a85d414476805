"""Several server processes on one data folder: one runs the jobs, the others relay.

The relay is tested over real loopback sockets between hubs in this process, then
with two studios on one data folder (what `genlab serve --workers 2` and two servers
started by hand both amount to): jobs queued on either run once, in the leader, and
the follower's watchers see live progress, can cancel, and take over when it stops.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from genlab.web.app import create_app
from genlab.web.bridge import RELAY_FILE, FileLock, Link, Relay
from genlab.web.progress import ProgressHub
from genlab.web.settings import Settings
from tests.web.conftest import HANG_GUARD, blocker, generate, wait_for, wait_until


def data_uri(colour: tuple[int, int, int]) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    png = buffer.getvalue()
    return png, "data:image/png;base64," + base64.b64encode(png).decode()


class Pair:
    """A leader hub with its relay and a follower hub linked to it."""

    def __init__(self, run_dir: Path):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.leader, self.follower = ProgressHub(), ProgressHub()
        self.relay = Relay(run_dir, self.leader.deliver, self.leader.snapshot)
        self.relay.start()
        self.leader.forward = self.relay.broadcast
        self.link = self.follow(self.follower)

    def follow(self, hub: ProgressHub) -> Link:
        link = Link(self.run_dir, hub.deliver)
        hub.forward = link.send
        link.start()
        assert link.connected.wait(HANG_GUARD), "the follower did not connect"
        return link

    def close(self) -> None:
        self.link.stop()
        self.relay.stop()


def test_the_leaders_events_reach_a_followers_watchers_in_order(tmp_path: Path) -> None:
    pair = Pair(tmp_path / "run")
    _png, uri = data_uri((200, 30, 30))

    async def watch() -> list[dict]:
        with pair.follower.subscribe(7) as subscription:
            pair.leader.started(7, total=10)
            pair.leader.step(7, 3, 10)
            pair.leader.preview(7, 3, uri)
            pair.leader.publish(8, "progress", step=1, total=2)  # another job: not seen
            pair.leader.finished(7, "done", image_ids=[1, 2])
            return [await subscription.get(timeout=HANG_GUARD) for _ in range(4)]

    try:
        events = asyncio.run(watch())
        assert [e["event"] for e in events] == ["started", "progress", "preview", "done"]
        assert events[1]["step"] == 3 and events[2]["image"] == uri
        assert events[3]["image_ids"] == [1, 2]
        assert pair.follower.live() is None  # done: nothing running any more
    finally:
        pair.close()


def test_a_follower_knows_the_running_job_and_its_preview(tmp_path: Path) -> None:
    pair = Pair(tmp_path / "run")
    png, uri = data_uri((30, 200, 30))
    try:
        pair.leader.started(5, total=20)
        pair.leader.step(5, 4, 20)
        pair.leader.preview(5, 4, uri)
        wait_until(lambda: getattr(pair.follower.live(), "preview_step", 0) == 4, what="preview")
        live = pair.follower.live()
        assert (live.job_id, live.step, live.total, live.preview_png) == (5, 4, 20, png)
        # One that connects mid-job learns the same from the snapshot at once.
        late = ProgressHub()
        link = pair.follow(late)
        wait_until(lambda: late.live() is not None, what="snapshot")
        caught_up = late.live()
        assert (caught_up.job_id, caught_up.step, caught_up.preview_png) == (5, 4, png)
        link.stop()
        # The leader gone, followers no longer claim a running job.
        pair.relay.stop()
        wait_until(lambda: pair.follower.live() is None, what="leader gone")
    finally:
        pair.close()


def test_cancel_wake_and_a_followers_own_events_reach_the_leader(tmp_path: Path) -> None:
    pair = Pair(tmp_path / "run")
    woken: list[bool] = []
    pair.leader.on_wake = lambda: woken.append(True)
    other = ProgressHub()
    other_link = pair.follow(other)

    async def watch() -> tuple[dict | None, dict | None]:
        with pair.leader.subscribe(9) as mine, other.subscribe(9) as theirs:
            # A follower cancelled a queued job: everyone's watchers hear of it.
            pair.follower.finished(9, "cancelled")
            return await mine.get(timeout=HANG_GUARD), await theirs.get(timeout=HANG_GUARD)

    try:
        pair.follower.request_cancel(4)
        wait_until(lambda: pair.leader.cancel_requested(4), what="cancel at the leader")
        wait_until(lambda: other.cancel_requested(4), what="cancel at the other follower")
        pair.follower.wake()
        wait_until(lambda: woken == [True], what="the leader's worker woken")
        at_leader, at_other = asyncio.run(watch())
        assert at_leader is not None and at_leader["event"] == "cancelled"
        assert at_other is not None and at_other["event"] == "cancelled"
    finally:
        other_link.stop()
        pair.close()


def test_the_relay_ignores_a_connection_without_its_secret(tmp_path: Path) -> None:
    pair = Pair(tmp_path / "run")
    try:
        port = json.loads((tmp_path / "run" / RELAY_FILE).read_text())["port"]
        for hello in ('{"secret": "guess"}', '{"secret": "gu\u00e9ss"}', '{"secret": 7}', "hi"):
            with socket.create_connection(("127.0.0.1", port), 5) as stranger:
                stranger.sendall(f'{hello}\n{{"control": "cancel", "job_id": 3}}\n'.encode())
                stranger.settimeout(5)
                assert stranger.recv(1024) == b""  # closed without a word
        assert not pair.leader.cancel_requested(3)
    finally:
        pair.close()


def test_the_leader_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "leader.lock"), FileLock(tmp_path / "leader.lock")
    assert first.acquire(wait=False)
    assert not second.acquire(wait=False)
    first.release()
    assert second.acquire(wait=False)
    second.release()


# -- two studios on one data folder ---------------------------------------------------


def events_of(client: TestClient, job_id: int, until: tuple[str, ...] = ()) -> list[str]:
    """Event names of a job's stream, to its end or to the first one in `until`."""
    names = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
                if names[-1] in until:
                    break
    return names


def test_a_second_server_on_the_same_folder_follows_the_first(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        leader, follower = first.app.state.studio, second.app.state.studio
        assert leader.leads and not follower.leads
        wait_until(follower._link.connected.is_set, what="the follower's link")

        # Queued through the follower, run by the leader.
        job = generate(second, "a red circle", batch_size=8)
        assert events_of(second, job["id"])[-1] == "done"
        # The follower's stream shows live steps, which only the relay can tell it.
        watched = blocker(second)
        wait_for(second, watched["id"], states=("running",))
        assert events_of(second, watched["id"], until=("progress",))[-1] == "progress"

        # Cancelled through the follower while the leader runs it.
        assert second.post(f"/api/jobs/{watched['id']}/cancel").status_code == 200
        assert wait_for(second, watched["id"])["state"] == "cancelled"
        assert second.get("/api/images").json()["total"] == 8  # nothing ran twice


def test_a_follower_takes_over_when_the_leader_stops(settings: Settings) -> None:
    first = TestClient(create_app(settings)).__enter__()
    with TestClient(create_app(settings)) as second:
        follower = second.app.state.studio
        assert not follower.leads
        first.__exit__(None, None, None)
        wait_until(lambda: follower.leads, what="the follower to lead")
        job = generate(second, "a blue square")
        assert wait_for(second, job["id"])["state"] == "done"


def test_worker_processes_get_every_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = Settings(
        data_dir=tmp_path / "data", token="a-long-token", read_threads=3, workers=2, port=7000
    )
    monkeypatch.setenv("GENLAB_SETTINGS", chosen.to_env())
    assert Settings.from_env() == chosen


def test_serve_refuses_a_worker_count_below_one(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from genlab.cli.serve import serve

    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--workers", "0", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "workers" in result.output, result.output
    assert "positive integer" in result.output


def test_with_several_processes_a_keep_alive_client_is_asked_to_reconnect(
    settings: Settings,
) -> None:
    """Every 100th response on one connection says `Connection: close`, so long-lived
    clients get spread over the processes again (TestClient is one connection)."""
    with TestClient(create_app(settings.with_changes(workers=2))) as client:
        closing = [
            n
            for n in range(1, 251)
            if client.get("/api/samplers").headers.get("connection") == "close"
        ]
    assert closing == [100, 200]
    with TestClient(create_app(settings)) as single:  # one process: nothing to spread
        assert all("connection" not in single.get("/api/samplers").headers for _ in range(120))
