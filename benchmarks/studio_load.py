"""Studio under load: the gallery and prompt search over 10,000 images, and job
submission, measured with wrk against a trivial endpoint on the same server.

How it runs:
1. Fill: a fresh data folder gets 10,000 gallery images before the server starts,
   through the studio's own service layer, not HTTP: the procedural engine renders
   64x64 Shapes World pictures in batches (`genlab.services.generation.generate`),
   `gallery.store_generated` stores each PNG with its metadata, and
   `gallery.add_images` adds the rows (prompt words included), committed every
   batch. Prompts are drawn from the Shapes World vocabulary, so a word search
   matches a realistic share of them.
2. Serve: `genlab serve --data <folder> --workers 2` in a subprocess on 127.0.0.1 and
   a free port, exactly as a user starts it (access log on, into a file). Two
   processes, one per core: one Python process cannot use more than one core for
   requests. `--workers 1` measures the single-process server.
3. Load: wrk, 20 connections, a fixed duration per target, one after another:
   - baseline: GET /api/samplers (no database; the cost of the stack itself)
   - gallery:  GET /api/images?limit=50 (the first page, newest first, with total)
   - search:   GET /api/images?q=red+circ&limit=50 (two prefix words)
   - page:     GET /gallery, when the HTML gallery exists
   - submit:   POST /api/jobs (a procedural 64x64 job, a prompt the search does not
     match, so a kept folder's search stays comparable); accepted jobs/s are the 201s
     per second, while the worker runs them on the same CPUs
   wrk reports median and p95 latency through a small Lua `done` hook; failures are
   responses other than 2xx/3xx plus socket errors (connect, read, write, timeout).
   wrk keeps each connection busy back to back, so latencies include queueing in
   the server, and a stalled request delays the ones behind it (coordinated
   omission): p95 here is pessimistic, not flattering.

Targets: gallery p95 < 100 ms on 2 cores, zero failed requests.

    python benchmarks/studio_load.py [--images 10000] [--duration 20] [--connections 20]
                                      [--workers 2] [--keep FOLDER]

Needs wrk (Debian: apt-get install -y wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

GENLAB = [sys.executable, "-c", "from genlab.cli.main import main; main()"]
BATCH = 50  # images per procedural call and per committed transaction
SIDE = 64
SEARCH = "red circ"
GALLERY_P95_TARGET_MS = 100.0

# wrk calls `done` once at the end; one JSON line is easier to read back than its table.
DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency.max))
end
"""
POST_JOB = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"kind": "generate", "prompt": "a green hexagon", "width": 64, "height": 64}'
"""


@dataclass(frozen=True)
class Load:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    bad_status: int  # responses other than 2xx/3xx
    socket_errors: int  # connect, read, write, timeout

    @property
    def failed(self) -> int:
        return self.bad_status + self.socket_errors

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def ok_rate(self) -> float:
        return (self.requests - self.bad_status) / self.seconds


# -- 1. fill ------------------------------------------------------------------------------


def prompts(count: int, rng: random.Random) -> list[str]:
    from genlab.world.vocab import COLOURS, SHAPES, SIZES

    colours = list(COLOURS)
    found = []
    for _ in range(count):
        colour, background = rng.sample(colours, 2)
        size, shape = rng.choice(SIZES), rng.choice(SHAPES)
        found.append(f"a {size} {colour} {shape} on a {background} background")
    return found


def fill(data: Path, images: int) -> float:
    """Put `images` procedural pictures into a fresh studio's gallery; returns seconds."""
    from genlab.services.generation import EngineCache, generate, new_request
    from genlab.web import gallery
    from genlab.web.settings import Settings
    from genlab.web.studio import Studio

    started = time.perf_counter()
    studio = Studio(Settings(data_dir=data))
    studio.start(worker=False)  # migrations and the local user, no worker
    engines = EngineCache()
    rng = random.Random(0)
    batches = -(-images // BATCH)
    for number, prompt in enumerate(prompts(batches, rng)):
        size = min(BATCH, images - number * BATCH)
        request = new_request(
            prompt=prompt, width=SIDE, height=SIDE, batch_size=size, seed=number * BATCH
        )
        result = generate(request, engines=engines)
        new = [gallery.store_generated(studio.store, result, i) for i in range(len(result.images))]
        with studio.sessions() as session:
            gallery.add_images(session, new, owner_id=studio.local_user_id, job_id=None)
            session.commit()
        if number % 40 == 0:
            print(f"  filled {number * BATCH + size}/{images}", flush=True)
    studio.stop()
    return time.perf_counter() - started


# -- 2. serve -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(data: Path, port: int, log: Path, workers: int) -> subprocess.Popen:
    env = {**os.environ, "XDG_CACHE_HOME": str(data.parent / "cache"), "OMP_NUM_THREADS": "1"}
    command = [*GENLAB, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(base: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up; see its log")
        try:
            if httpx.get(f"{base}/api/samplers", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


# -- 3. load ------------------------------------------------------------------------------


def wrk(name: str, url: str, script: Path, args: argparse.Namespace) -> Load:
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections)]
    command += ["-d", f"{args.duration}s", "--timeout", "10s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    found = json.loads(line.removeprefix("RESULT "))
    sockets = sum(found[k] for k in ("connect", "read", "write", "timeout"))
    return Load(
        name=name,
        requests=found["requests"],
        seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000,
        p95_ms=found["p95_us"] / 1000,
        max_ms=found["max_us"] / 1000,
        bad_status=found["status"],
        socket_errors=sockets,
    )


def job_states(data: Path) -> dict[str, int]:
    with sqlite3.connect(data / "genlab.db") as db:
        return dict(db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())


def cancel_leftover_jobs(data: Path) -> int:
    with sqlite3.connect(data / "genlab.db") as db:
        cursor = db.execute(
            "UPDATE jobs SET state = 'cancelled' WHERE state IN ('queued', 'running')"
        )
        return cursor.rowcount


def report(loads: list[Load], baseline: Load) -> None:
    print()
    print(
        f"{'target':<10} {'requests':>9} {'req/s':>8} {'median ms':>10} {'p95 ms':>8} "
        f"{'max ms':>8} {'failed':>7} {'p95 vs baseline':>16}"
    )
    for load in loads:
        ratio = load.p95_ms / baseline.p95_ms if baseline.p95_ms else float("nan")
        print(
            f"{load.name:<10} {load.requests:>9} {load.rate:>8.1f} {load.p50_ms:>10.1f} "
            f"{load.p95_ms:>8.1f} {load.max_ms:>8.1f} {load.failed:>7} {ratio:>15.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds per target")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--keep", type=Path, help="use (or fill) this data folder and keep it")
    parser.add_argument(
        "--workers", type=int, default=2, help="server processes (genlab serve --workers)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")

    with tempfile.TemporaryDirectory(prefix="genlab-load-") as temp:
        root = Path(temp)
        data = args.keep or root / "data"
        if not (data / "genlab.db").exists():
            print(f"filling the gallery with {args.images} images …", flush=True)
            seconds = fill(data, args.images)
            print(f"filled in {seconds:.1f}s ({args.images / seconds:.0f} images/s)")
        else:
            cancelled = cancel_leftover_jobs(data)
            if cancelled:
                # A kept folder still holds the last run's submitted jobs: left queued,
                # the worker would run them during the read loads and skew them.
                print(f"cancelled {cancelled} jobs left queued by an earlier run")
        for name, text in (("get.lua", DONE_HOOK), ("post.lua", POST_JOB + DONE_HOOK)):
            (root / name).write_text(text)
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) before the server starts")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        print(f"genlab serve --workers {args.workers}")
        server = serve(data, port, root / "server.log", args.workers)
        try:
            wait_ready(base, server)
            targets = {
                "baseline": f"{base}/api/samplers",
                "gallery": f"{base}/api/images?limit=50",
                "search": f"{base}/api/images?q={SEARCH.replace(' ', '+')}&limit=50",
                "page": f"{base}/gallery",
            }
            gallery = httpx.get(targets["gallery"], timeout=30).json()
            search = httpx.get(targets["search"], timeout=30).json()
            print(f"gallery total {gallery['total']}, search {SEARCH!r} matches {search['total']}")
            if httpx.get(targets["page"], timeout=30).status_code != 200:
                print("no /gallery page on this server: skipped")
                del targets["page"]
            loads = []
            for name, url in targets.items():
                print(f"wrk {name}: {args.connections} connections, {args.duration}s", flush=True)
                loads.append(wrk(name, url, root / "get.lua", args))
            print(f"wrk submit: {args.connections} connections, {args.duration}s", flush=True)
            submit = wrk("submit", f"{base}/api/jobs", root / "post.lua", args)
            loads.append(submit)
            states = job_states(data)  # while the worker still runs (WAL: readers never wait)
        finally:
            server.terminate()
            server.wait(60)
        baseline = loads[0]
        report(loads, baseline)
        print(
            f"\njob submission: {submit.ok_rate:.1f} jobs/s accepted "
            f"({submit.requests - submit.bad_status} in {submit.seconds:.1f}s); "
            f"jobs by state when it ended: {states}"
        )
        for load in loads[1:]:
            if load.name in ("gallery", "search", "page"):
                met = load.p95_ms < GALLERY_P95_TARGET_MS and load.failed == 0
                print(
                    f"{load.name}: p95 {load.p95_ms:.1f} ms (target < "
                    f"{GALLERY_P95_TARGET_MS:.0f}), {load.failed} failed — "
                    f"{'met' if met else 'NOT met'}"
                )
        if any(load.failed for load in loads):
            print("failed requests: " + ", ".join(f"{x.name} {x.failed}" for x in loads))


if __name__ == "__main__":
    main()
