"""Validate the Shapes World detector on renders whose scenes are known.

For random scenes (the training distribution), render, optionally degrade, detect,
and count an image correct when the detected multiset of (shape, colour, size) equals
the scene's (colour is not judged in monochrome, where it is unrecoverable) and every
relation of the scene holds between the matched detections. Prints accuracy per style
and overall with 95% Wilson intervals, for clean, noisy and blurred renders.

    python benchmarks/detector.py [--n 400] [--size 64]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import defaultdict

import numpy as np
from PIL import Image, ImageFilter

from genlab.world.detect import detect, matches
from genlab.world.render import render
from genlab.world.scene import Scene, random_scene


def correct(scene: Scene, image: Image.Image) -> bool:
    return matches(scene, detect(image))


def degrade(image: Image.Image, how: str, seed: int) -> Image.Image:
    if how == "noise":  # sensor-like Gaussian noise, sigma 12/255
        rng = np.random.default_rng(seed)
        data = np.asarray(image, np.float32) + rng.normal(0, 12, (image.height, image.width, 3))
        return Image.fromarray(np.clip(data, 0, 255).astype(np.uint8))
    if how == "blur":  # Gaussian blur of one pixel per 64 px of width
        return image.filter(ImageFilter.GaussianBlur(image.width / 64))
    return image


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--only", nargs="*", choices=["clean", "noise", "blur"])
    args = parser.parse_args()
    for how in args.only or ("clean", "noise", "blur"):
        per_style: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        started = time.perf_counter()
        for seed in range(args.n):
            rng = random.Random(seed)
            scene = random_scene(rng)
            image = degrade(render(scene, args.size, args.size, rng=rng), how, seed)
            tally = per_style[scene.style]
            tally[0] += correct(scene, image)
            tally[1] += 1
        elapsed = (time.perf_counter() - started) / args.n * 1000
        k = sum(t[0] for t in per_style.values())
        low, high = wilson(k, args.n)
        print(
            f"{how} renders at {args.size}px: {k}/{args.n} = {k / args.n:.3f} "
            f"[{low:.3f}, {high:.3f}]  ({elapsed:.0f} ms/image)"
        )
        for style, (good, total) in sorted(per_style.items()):
            low, high = wilson(good, total)
            print(f"  {style:<12} {good}/{total} = {good / total:.3f} [{low:.3f}, {high:.3f}]")


if __name__ == "__main__":
    main()
