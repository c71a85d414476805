"""Audit throughput on a captioned Shapes World folder, against decoding alone.

The issue's target is a 50,000-image folder audited in at most 2 minutes when
captions are present (attributes from the rows, perceptual hashes from the pixels,
no feature pass). The baseline, measured in the same run on the same files, is
opening and decoding every image, which no audit can avoid; the ratio says what the
parsing, hashing and counting add on top.

    python benchmarks/data_audit.py [--n 2000] [--size 64] [--features]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from genlab.core.images import open_image
from genlab.data.audit import audit
from genlab.world.dataset import export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--features", action="store_true", help="also embed for outliers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = export(Path(tmp) / "set", args.n, args.size)
        started = time.perf_counter()
        for path in sorted((folder / "images").glob("*.png")):
            open_image(path, keep_alpha=False)
        decode = time.perf_counter() - started
        started = time.perf_counter()
        result = audit(folder, features=args.features)
        seconds = time.perf_counter() - started
    rate = result.images / seconds
    print(f"decode only: {args.n / decode:.0f} images/s (baseline)")
    print(f"audit:       {rate:.0f} images/s, {seconds / decode:.2f}x the baseline's time")
    print(f"50,000 images at this rate: {50_000 / rate:.0f} s (target 120 s)")


if __name__ == "__main__":
    main()
