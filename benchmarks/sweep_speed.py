"""Sweep speed: N images as one `genlab sweep` vs N separate `genlab generate` runs.

The sweep (genlab.lab.runner.run_sweep under the CLI) loads the model once and makes
the cells in batches of consecutive seeds. The baseline, measured in the same run, is
what a user without sweeps would do: one `genlab generate` process per image, each
starting Python, importing genlab and loading the model again. Both sides are whole
processes with the same settings (the model's default steps and sampler, 64 px, a
seed axis × a guidance axis), so start-up counts on both. One untimed `generate`
first warms the file cache for both. Target: ratio >= 3 at 64 cells.

    python benchmarks/sweep_speed.py [--cells 64] [--model builtin] [--size 64]

64 cells are 8 seeds × 8 guidance values; other counts use up to 8 seeds (one
batch) × as many guidance values as make up the count. The images of both sides are
compared too: batching may change float rounding, not the picture.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.lab.records import open_store
from genlab.lab.sweep import MAX_SWEEP_BATCH

GENLAB = [sys.executable, "-c", "from genlab.cli.main import main; main()"]
PROMPT = "a large red circle left of a small blue square"
FIRST_SEED = 1


def grid(cells: int) -> tuple[list[int], list[float]]:
    """Seeds (at most one batch) and guidance values whose product is `cells`."""
    per_row = max(d for d in range(1, MAX_SWEEP_BATCH + 1) if cells % d == 0)
    rows = cells // per_row
    seeds = list(range(FIRST_SEED, FIRST_SEED + per_row))
    if rows == 1:
        return seeds, [5.0]
    # Spread over 2..9, the useful range for the built-in model.
    return seeds, [round(2.0 + 7.0 * i / (rows - 1), 2) for i in range(rows)]


def run(args: list[str]) -> float:
    """Wall seconds of one genlab process; its output is kept only to explain a failure."""
    started = time.perf_counter()
    done = subprocess.run([*GENLAB, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"genlab {' '.join(args[:1])} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def generate_args(model: str, size: int, seed: int, guidance: float, out: Path) -> list[str]:
    return [
        "generate",
        PROMPT,
        *("--model", model, "-W", str(size), "-H", str(size)),
        *("--seed", str(seed), "--guidance-scale", str(guidance), "-o", str(out), "--no-grid"),
    ]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=64, help="images per side (default 64)")
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--size", type=int, default=64, help="width and height in px")
    args = parser.parse_args()
    if args.cells < 1:
        parser.error("--cells must be at least 1")
    seeds, guidance = grid(args.cells)
    print(
        f"{args.cells} images of {args.size}x{args.size} on {args.model}: "
        f"{len(seeds)} seeds × {len(guidance)} guidance values {guidance}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run(generate_args(args.model, args.size, seeds[0], guidance[0], work / "warm-up"))

        sweep_s = run(
            [
                "sweep",
                PROMPT,
                *("--model", args.model, "-W", str(args.size), "-H", str(args.size)),
                *("--x", f"seed={','.join(map(str, seeds))}"),
                *("--y", f"guidance_scale={','.join(map(str, guidance))}"),
                *("-o", str(work / "sweep"), "--yes"),
            ]
        )
        print(f"sweep: 1 process        {sweep_s:8.1f} s  {args.cells / sweep_s:6.2f} images/s")

        each = []
        made: dict[tuple[int, float], Path] = {}
        for g in guidance:
            for seed in seeds:
                out = work / "generate" / f"{seed}-{g}"
                each.append(run(generate_args(args.model, args.size, seed, g, out)))
                (made[(seed, g)],) = out.glob("*.png")
        separate_s = sum(each)
        print(
            f"generate: {len(each)} processes {separate_s:8.1f} s  "
            f"{args.cells / separate_s:6.2f} images/s  "
            f"(median {statistics.median(each):.2f} s per process)"
        )
        print(f"ratio (separate / sweep): {separate_s / sweep_s:.2f}x  (target >= 3x)")

        with open_store(work / "sweep", create=False) as store:
            cells = store.cells(store.latest_run().id)
        gaps = [
            int(np.abs(pixels(c.image_path) - pixels(made[(c.request["seed"], g)])).max())
            for c in cells
            for g in [c.request["guidance_scale"]]
        ]
        same = sum(gap == 0 for gap in gaps)
        print(
            f"images: {same} of {len(gaps)} identical on both sides; "
            f"largest pixel difference {max(gaps)} of 255"
        )


if __name__ == "__main__":
    main()
