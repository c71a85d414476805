"""Kill the server mid-job (SIGKILL), start it again: every job still ends done, and
the store holds exactly the files the database names, each matching its hash."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import FINISHED, HANG_GUARD, wait_until

pytestmark = pytest.mark.slow
JOBS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data: Path, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "GENLAB_DATA": str(data),
        "XDG_CACHE_HOME": str(data.parent / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "genlab.web.app:app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(base: str, server: subprocess.Popen, timeout: float = HANG_GUARD) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{base}/api/jobs", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


def test_jobs_survive_a_kill_and_the_store_stays_consistent(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(data, port, log)
    try:
        wait_ready(base, server)
        # Real denoising work: the built-in model, enough steps to be caught mid-job.
        body = {"kind": "generate", "model": "builtin", "steps": 40, "batch_size": 2}
        ids = [
            httpx.post(f"{base}/api/jobs", json={**body, "prompt": p, "seed": n}).json()["id"]
            for n, p in enumerate(["a red circle", "a blue square", "two green stars"])
        ]
        running = _running_at_step_3(lambda: httpx.get(f"{base}/api/jobs").json()["items"])
        killed = running[0]["id"]
        server.send_signal(signal.SIGKILL)
        server.wait(10)

        server = start_server(data, port, log)
        wait_ready(base, server)
        wait_until(lambda: _all_finished(base, ids), what="every job finished", every=0.2)
        jobs = {j["id"]: j for j in _jobs(base, ids)}
    finally:
        server.terminate()  # a clean stop must also work
        server.wait(60)

    assert all(j["state"] == "done" for j in jobs.values()), log.read_text()[-3000:]
    assert jobs[killed]["attempts"] == 2
    assert_store_matches_the_database(data, ids)


def assert_store_matches_the_database(data: Path, ids: list[int]) -> None:
    """Every job's two images have a row and a complete file; nothing else is stored."""
    with sqlite3.connect(data / "genlab.db") as db:
        rows = db.execute("SELECT path, sha256, job_id FROM images").fetchall()
    assert sorted(job_id for _, _, job_id in rows) == sorted(ids * 2)
    for path, sha, _ in rows:  # no row without its complete file
        assert hashlib.sha256((data / path).read_bytes()).hexdigest() == sha
    on_disk = {p.relative_to(data).as_posix() for p in (data / "images").rglob("*") if p.is_file()}
    assert on_disk == {path for path, _, _ in rows}  # no orphan files, no temporary files
    leftovers = [p for area in ("images", "inputs", "thumbs") for p in (data / area).rglob(".*")]
    assert leftovers == []


def serve_two_processes(tmp_path: Path, port: int) -> subprocess.Popen:
    data, log = tmp_path / "data", tmp_path / "server.log"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", "from genlab.cli.main import main; main()", "serve"]
    command += ["--data", str(data), "--port", str(port), "--workers", "2"]
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_with_two_server_processes_a_killed_leader_is_replaced(tmp_path: Path) -> None:
    """`genlab serve --workers 2`: kill the process running the jobs; the other one takes
    over the queue (the killed job is retried once) and a new process joins."""
    data, log = tmp_path / "data", tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve_two_processes(tmp_path, port)
    try:
        wait_ready(base, server)
        body = {"kind": "generate", "model": "builtin", "steps": 40, "batch_size": 2}
        ids = [
            httpx.post(f"{base}/api/jobs", json={**body, "prompt": p, "seed": n}).json()["id"]
            for n, p in enumerate(["a red circle", "a blue square"])
        ]
        running = _running_at_step_3(lambda: _jobs(base, ids))
        leader = json.loads((data / "run" / "relay.json").read_text())["pid"]
        os.kill(leader, signal.SIGKILL)
        wait_until(lambda: _all_finished(base, ids), what="every job finished", every=0.2)
        jobs = {j["id"]: j for j in _jobs(base, ids)}
        successor = json.loads((data / "run" / "relay.json").read_text())["pid"]
    finally:
        server.terminate()
        server.wait(60)

    assert server.returncode == 0, log.read_text()[-3000:]
    assert all(j["state"] == "done" for j in jobs.values()), log.read_text()[-3000:]
    assert jobs[running[0]["id"]]["attempts"] == 2
    assert successor != leader
    assert_store_matches_the_database(data, ids)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_worker_processes_stop_when_genlab_serve_is_killed(tmp_path: Path) -> None:
    """Killed outright, `genlab serve` cannot stop its workers: they notice and stop on
    their own, freeing the port and the data folder."""
    port = free_port()
    server = serve_two_processes(tmp_path, port)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        workers = _children(server.pid)
        assert len(workers) >= 2
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers),
        what=f"the end of worker processes {workers} (they outlived their parent)",
        every=0.2,
    )
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (multiprocessing's helper and the workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running_at_step_3(listing) -> list[dict]:
    """The running jobs once one is at step 3 or later (of 40: caught mid-job)."""
    found: list[dict] = []

    def caught() -> bool:
        found[:] = [j for j in listing() if j["state"] == "running" and (j["step"] or 0) >= 3]
        return bool(found)

    wait_until(caught, what="a job at step 3", every=0.05)
    return found


def _all_finished(base: str, ids: list[int]) -> bool:
    return all(j["state"] in FINISHED for j in _jobs(base, ids))


def _jobs(base: str, ids: list[int]) -> list[dict]:
    return [httpx.get(f"{base}/api/jobs/{i}", timeout=10).json() for i in ids]
