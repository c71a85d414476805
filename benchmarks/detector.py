"""Validate the Shapes World detector on renders whose scenes are known.

For random scenes (the training distribution), render, optionally degrade, detect,
and count an image correct when the detected multiset of (shape, colour, size) equals
the scene's (colour is not judged in monochrome, where it is unrecoverable) and every
relation of the scene holds between the matched detections. Prints accuracy per style
and overall with 95% Wilson intervals and the detector's time per image, for clean,
noisy and blurred renders (blur: sigma 1 px at 64 px; blur2: 1.5 px). Every image is
judged with each of the detector's tolerances: the first judge's (v1) is the baseline.

    python benchmarks/detector.py [--n 400] [--size 64] [--tolerances v1 v2]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import defaultdict

import numpy as np
from PIL import Image, ImageFilter

from genlab.world.detect import TOLERANCES, detect, matches
from genlab.world.render import render
from genlab.world.scene import Scene, random_scene

# Blur conditions: sigma in pixels at 64 px. Diffusion model outputs at 64 px look
# like a 1-1.5 px blur of a render; blur2 is the soft end of that range.
BLURS = {"blur": 1.0, "blur2": 1.5}
CONDITIONS = ("clean", "noise", *BLURS)


def correct(scene: Scene, image: Image.Image, tolerances: str) -> tuple[bool, float]:
    """Whether the detector recovers `scene` from `image`, and its time in seconds."""
    started = time.perf_counter()
    found = detect(image, tolerances=tolerances)
    return matches(scene, found), time.perf_counter() - started


def degrade(image: Image.Image, how: str, seed: int) -> Image.Image:
    if how == "noise":  # sensor-like Gaussian noise, sigma 12/255
        rng = np.random.default_rng(seed)
        data = np.asarray(image, np.float32) + rng.normal(0, 12, (image.height, image.width, 3))
        return Image.fromarray(np.clip(data, 0, 255).astype(np.uint8))
    if how in BLURS:  # Gaussian blur, in pixels per 64 px of width
        return image.filter(ImageFilter.GaussianBlur(BLURS[how] * image.width / 64))
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
    parser.add_argument("--only", nargs="*", choices=CONDITIONS)
    parser.add_argument("--tolerances", nargs="*", choices=list(TOLERANCES))
    args = parser.parse_args()
    judges = args.tolerances or list(TOLERANCES)
    for how in args.only or CONDITIONS:
        per_style = {j: defaultdict(lambda: [0, 0]) for j in judges}
        seconds = dict.fromkeys(judges, 0.0)
        for seed in range(args.n):
            rng = random.Random(seed)
            scene = random_scene(rng)
            image = degrade(render(scene, args.size, args.size, rng=rng), how, seed)
            for j in judges:
                tally = per_style[j][scene.style]
                good, spent = correct(scene, image, j)
                tally[0] += good
                tally[1] += 1
                seconds[j] += spent
        for j in judges:
            elapsed = seconds[j] / args.n * 1000
            k = sum(t[0] for t in per_style[j].values())
            low, high = wilson(k, args.n)
            print(
                f"{how} renders at {args.size}px, {j} tolerances: {k}/{args.n} = "
                f"{k / args.n:.3f} [{low:.3f}, {high:.3f}]  ({elapsed:.0f} ms/image to detect)"
            )
            for style, (good, total) in sorted(per_style[j].items()):
                low, high = wilson(good, total)
                print(f"  {style:<12} {good}/{total} = {good / total:.3f} [{low:.3f}, {high:.3f}]")


if __name__ == "__main__":
    main()
