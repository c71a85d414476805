"""Super-resolution benchmark: quality gain and speed of the shipped ESPCN vs bicubic.

Prints, on the held-out photos (never used in training):
  1. PSNR/SSIM on Y (border = scale) of bicubic, lanczos and espcn, and espcn's gain in dB;
  2. megapixels of output per second for bicubic, espcn untiled and espcn tiled,
     with ratios against bicubic (and tiled against untiled), all measured in this run.

    python benchmarks/upscale.py [--scale 2] [--tile 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from genlab.upscale.data import HELD_OUT, eval_pairs
from genlab.upscale.evaluate import evaluate
from genlab.upscale.loaders import load_upscaler, upscale_image


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--tile", type=int, default=256, help="as `genlab upscale` uses")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scale = args.scale

    print(f"quality on held-out photos {', '.join(HELD_OUT)} at x{scale} (Y, border {scale})")
    rows = {}
    for name in ("lanczos", "espcn"):
        rows[name] = evaluate(load_upscaler(name, scale), scale)
    print(f"{'photo':<10} {'bicubic':>15} {'lanczos':>15} {'espcn':>15} {'gain dB':>8}")
    for lan, esp in zip(rows["lanczos"], rows["espcn"]):
        print(
            f"{lan.photo:<10} {lan.bicubic_psnr:7.2f}/{lan.bicubic_ssim:.4f} "
            f"{lan.psnr:7.2f}/{lan.ssim:.4f} {esp.psnr:7.2f}/{esp.ssim:.4f} {esp.gain_db:+8.2f}"
        )

    # Speed on the largest held-out photo itself (tiles only matter on larger inputs),
    # in megapixels of output per second.
    hr = max((p.hr for p in eval_pairs(scale)), key=lambda a: a.size)
    image = Image.fromarray(np.ascontiguousarray(hr), "RGB")
    megapixels = image.width * image.height * scale * scale / 1e6
    bicubic, espcn = load_upscaler("bicubic", scale), load_upscaler("espcn", scale)
    timings = {
        "bicubic": best_of(args.repeats, lambda: upscale_image(image, bicubic, scale)),
        "espcn untiled": best_of(args.repeats, lambda: upscale_image(image, espcn, scale)),
        f"espcn tile {args.tile}": best_of(
            args.repeats, lambda: upscale_image(image, espcn, scale, tile=args.tile)
        ),
    }
    print(f"\nspeed: {image.width}x{image.height} → x{scale}, best of {args.repeats}")
    for name, seconds in timings.items():
        rate = megapixels / seconds
        print(f"{name:<18} {rate:8.2f} MP/s   {timings['bicubic'] / seconds:6.3f}x bicubic's speed")
    untiled, tiled = timings["espcn untiled"], timings[f"espcn tile {args.tile}"]
    print(f"tiled / untiled throughput: {untiled / tiled:.3f}")


if __name__ == "__main__":
    main()
