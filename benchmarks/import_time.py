"""How long `import genlab` takes, against a bare interpreter start, and whether it
pulls in torch (it must not: heavy libraries load only where they are used).

    python benchmarks/import_time.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def timed(code: str) -> float:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    baseline = timed("pass")
    with_genlab = timed("import genlab")
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, genlab, genlab.cli.main; "
            "print(sorted(m for m in ('torch','diffusers','transformers','numpy') "
            "if m in sys.modules))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"baseline: bare `python -c pass`   median {baseline * 1000:7.1f} ms ({RUNS} runs)")
    print(f"`import genlab`                     median {with_genlab * 1000:7.1f} ms")
    cost_ms = (with_genlab - baseline) * 1000
    print(f"import cost: {cost_ms:.1f} ms, ratio {with_genlab / baseline:.2f}x")
    print(f"heavy modules loaded by `import genlab, genlab.cli.main`: {heavy}")


if __name__ == "__main__":
    main()
