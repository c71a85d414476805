"""Recolouring speed against straightforward baselines, measured in the same run.

* reinhard — genlab's fused log-LMS Reinhard vs the textbook version: skimage
  `rgb2lab`, per-channel mean/std matching, `lab2rgb` (float64). Target ≥ 10 MP/s.
* ot — genlab's sliced-OT transfer (sampled quantiles, table lookups, regrain) vs a
  direct Pitié IDT with exact `np.quantile` maps and `np.interp` on every pixel, same
  iteration count, no regrain. Aim: a 1-megapixel image in under a second.
* histogram and palette mapping — genlab only, for reference.

  python benchmarks/recolor.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from skimage import data
from skimage.color import lab2rgb, rgb2lab

from genlab.transfer.colour import (
    _OT_ITERATIONS,
    distribution_transfer,
    match_histograms_lab,
    reinhard,
    sliced_wasserstein,
)
from genlab.transfer.palette import preset, recolor_to_palette


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: lazy imports, allocator growth
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def baseline_reinhard(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    lab, ref = rgb2lab(source), rgb2lab(reference)
    mean_s, std_s = lab.mean(axis=(0, 1)), lab.std(axis=(0, 1))
    mean_r, std_r = ref.mean(axis=(0, 1)), ref.std(axis=(0, 1))
    out = lab2rgb((lab - mean_s) / std_s * std_r + mean_r)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def baseline_idt(source: np.ndarray, reference: np.ndarray, iterations: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = source.reshape(-1, 3) / 255.0
    y = reference.reshape(-1, 3) / 255.0
    levels = np.linspace(0, 1, 256)
    for _ in range(iterations):
        q, r = np.linalg.qr(rng.standard_normal((3, 3)))
        rotation = q * np.sign(np.diag(r))
        xr, yr = x @ rotation.T, y @ rotation.T
        moved = np.stack(
            [
                np.interp(xr[:, d], np.quantile(xr[:, d], levels), np.quantile(yr[:, d], levels))
                for d in range(3)
            ],
            axis=1,
        )
        x = x + (moved - xr) @ rotation
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(source.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reference = data.coffee()
    big = np.tile(data.astronaut(), (4, 4, 1))  # 2048 × 2048 ≈ 4.2 MP
    mega = big[:1024, :1024]  # ≈ 1.05 MP

    t_base = median_time(lambda: baseline_reinhard(big, reference), args.repeats)
    t_ours = median_time(lambda: reinhard(big, reference), args.repeats)
    mp = big.shape[0] * big.shape[1] / 1e6
    print(
        f"reinhard  {mp:.1f} MP  baseline=skimage-lab-reinhard: {mp / t_base:6.1f} MP/s  "
        f"genlab: {mp / t_ours:6.1f} MP/s  speed-up ×{t_base / t_ours:.1f}"
    )

    t_base = median_time(lambda: baseline_idt(mega, reference, _OT_ITERATIONS), args.repeats)
    t_ours = median_time(lambda: distribution_transfer(mega, reference), args.repeats)
    sw = {
        "source": sliced_wasserstein(mega.reshape(-1, 3) / 255, reference.reshape(-1, 3) / 255),
        "baseline": sliced_wasserstein(
            baseline_idt(mega, reference, _OT_ITERATIONS).reshape(-1, 3) / 255,
            reference.reshape(-1, 3) / 255,
        ),
        "genlab": sliced_wasserstein(
            distribution_transfer(mega, reference).reshape(-1, 3) / 255,
            reference.reshape(-1, 3) / 255,
        ),
    }
    print(
        f"ot        1.0 MP  baseline=exact-quantile-idt: {t_base:6.2f} s  "
        f"genlab (with regrain): {t_ours:6.2f} s  speed-up ×{t_base / t_ours:.1f}"
    )
    print("          sliced W2 to reference: " + "  ".join(f"{k} {v:.4f}" for k, v in sw.items()))

    t_hist = median_time(lambda: match_histograms_lab(mega, reference), args.repeats)
    t_pal = median_time(lambda: recolor_to_palette(mega, preset("neon")), args.repeats)
    print(f"histogram 1.0 MP  genlab: {t_hist:6.2f} s")
    print(f"palette   1.0 MP  genlab (neon, 6 colours): {t_pal:6.2f} s")


if __name__ == "__main__":
    main()
