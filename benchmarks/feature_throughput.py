"""Throughput of the `shapes` feature extractor against an FID-sized network, on CPU.

Baseline: torchvision's Inception-v3 with random weights at 299x299, the architecture
and input size of the FID network, so it costs what FID features cost (its weights
cannot be downloaded here, and the values do not matter for speed). Both get the same
Shapes World renders; each side's time includes its own preprocessing (the shapes
extractor's resize rule; a bilinear resize to 299 for Inception), measured after one
warm-up batch, in images per second.

    python benchmarks/feature_throughput.py [--threads N] [--images N]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
from PIL import Image

from genlab.metrics.shapes_encoder import load
from genlab.world.render import render
from genlab.world.scene import random_scene


def inception_features(model, images: list[Image.Image], batch_size: int) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            arrays = [
                np.asarray(im.convert("RGB").resize((299, 299), Image.BILINEAR)) for im in chunk
            ]
            batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
            out.append(model(batch).double().numpy())  # (B, 1000): the cost is the same as pool3
    return np.concatenate(out)


def rate(run, images: list[Image.Image], batch_size: int) -> float:
    run(images[:batch_size], batch_size)  # warm-up: first-call allocations, lazy init
    began = time.perf_counter()
    run(images, batch_size)
    return len(images) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--images", type=int, default=256, help="images per shapes measurement")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from torchvision.models import inception_v3

    rng = random.Random(0)
    images = [render(random_scene(rng), 64, 64) for _ in range(args.images)]
    shapes = load(None, "cpu")
    torch.manual_seed(0)
    inception = inception_v3(weights=None, aux_logits=False, init_weights=False).eval()
    # Inception is 50-100x slower, so it gets fewer images for a similar measuring time.
    few = images[: max(8, args.images // 8)]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), 64 px renders")
    print(f"{'batch':>5}  {'shapes (img/s)':>15}  {'inception-v3 299px (img/s)':>27}  ratio")
    for batch_size in (1, 64):
        ours = rate(lambda ims, b: shapes.features(ims, b), images, batch_size)
        base = rate(
            lambda ims, b: inception_features(inception, ims, b), few, min(batch_size, len(few))
        )
        print(f"{batch_size:>5}  {ours:>15.1f}  {base:>27.2f}  {ours / base:.0f}x")
    print("ratio = shapes extractor images/s over Inception-v3 images/s (higher: shapes faster)")


if __name__ == "__main__":
    main()
