"""GAN against diffusion on the same held-out benchmark: FD and KID on the `shapes`
features (with 95% bootstrap intervals), precision and recall, diversity across seeds,
and images per second, all measured in one run on this machine.

The held-out reference is a fresh Shapes World export (a seed neither model trained
on): each model draws one image per reference caption, with seed i for caption i.
The baseline is the built-in diffusion model at its tuned defaults (8 steps, DPM++ 2M,
guidance 5); the ratios printed are GAN over built-in.

    python benchmarks/gan_vs_diffusion.py [--n 500] [--data-seed 777] [--threads 2]
        [--bootstrap 200] [--sheet docs/images/gan-vs-builtin.png] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from genlab.metrics.bootstrap import bootstrap_ci
from genlab.metrics.diversity import mean_pairwise_distance
from genlab.metrics.frechet import frechet_distance
from genlab.metrics.kid import kernel_distance
from genlab.metrics.precision_recall import precision_recall
from genlab.metrics.shapes_encoder import load as load_shapes
from genlab.services.generation import EngineCache, generate, new_request
from genlab.train.data import load_captioned_images
from genlab.world.dataset import export

DIVERSITY_PROMPTS = ("a red circle", "two blue stars", "a green square above a pink heart")
DIVERSITY_SEEDS = 16
SHEET_PROMPTS = (
    "a red star left of a blue circle",
    "a large green square",
    "two yellow hearts on a black background",
    "a big orange circle at night",
)


def draw(model: str, captions: list[str], engines: EngineCache, batch: int) -> tuple[list, float]:
    """One image per caption (seed i for caption i); and the images a second."""
    images, seconds = [], 0.0
    for start in range(0, len(captions), batch):
        for i, caption in enumerate(captions[start : start + batch]):
            request = new_request(prompt=caption, model=model, seed=start + i)
            began = time.perf_counter()
            images.extend(generate(request, engines=engines).images)
            seconds += time.perf_counter() - began
    return images, len(images) / seconds


def kid(a: np.ndarray, b: np.ndarray) -> float:
    return kernel_distance(a, b, subsets=20, subset_size=min(len(a), len(b), 200))[0]


def scores(real: np.ndarray, fake: np.ndarray, n_boot: int) -> dict:
    pr = precision_recall(real, fake)
    fd = frechet_distance(real, fake)
    return {
        "fd": fd,
        "fd_ci": bootstrap_ci(frechet_distance, real, fake, n=n_boot),
        "kid": kid(real, fake),
        "kid_ci": bootstrap_ci(kid, real, fake, n=max(20, n_boot // 10)),
        "precision": pr.precision,
        "recall": pr.recall,
    }


def diversity(model: str, extractor, engines: EngineCache) -> float:
    values = []
    for prompt in DIVERSITY_PROMPTS:
        request = new_request(prompt=prompt, model=model, seed=0, batch_size=DIVERSITY_SEEDS)
        values.append(
            mean_pairwise_distance(extractor.features(generate(request, engines=engines).images))
        )
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--data-seed", type=int, default=777)
    parser.add_argument("--models", default="gan,builtin")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--sheet", default=None, help="write a contact sheet PNG here")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    extractor = load_shapes(None)
    with tempfile.TemporaryDirectory() as tmp:
        data = load_captioned_images(export(Path(tmp), args.n, 64, seed=args.data_seed), 64)
    from PIL import Image

    real_images = [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in data.images]
    real = extractor.features(real_images)
    results, sheet_rows = {}, []
    for model in args.models.split(","):
        engines = EngineCache()
        images, speed = draw(model, data.captions, engines, 16)
        row = scores(real, extractor.features(images), args.bootstrap)
        row["images_per_s_batch1"] = speed
        row["diversity"] = diversity(model, extractor, engines)
        results[model] = row
        sheet_rows.append(_sheet_row(model, engines))
        print(_line(model, row), flush=True)
    results["world_diversity"] = diversity("procedural", extractor, EngineCache())
    print(f"diversity of Shapes World's own renders: {results['world_diversity']:.2f}")
    models = args.models.split(",")
    if len(models) == 2:
        a, b = (results[m] for m in models)
        print(
            f"ratio {models[0]}/{models[1]}: FD {a['fd'] / b['fd']:.2f}x, speed "
            f"{a['images_per_s_batch1'] / b['images_per_s_batch1']:.1f}x"
        )
    if args.sheet:
        from genlab.core.grid import labelled_grid

        images = [im for row in sheet_rows for im in row[1]]
        labels = [f"{m}: {p}" for m, _ in sheet_rows for p in SHEET_PROMPTS]
        labelled_grid(images, labels, columns=len(SHEET_PROMPTS)).save(args.sheet)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def _sheet_row(model: str, engines: EngineCache) -> tuple[str, list]:
    images = []
    for prompt in SHEET_PROMPTS:
        request = new_request(prompt=prompt, model=model, seed=1)
        images.extend(generate(request, engines=engines).images)
    return model, images


def _line(model: str, row: dict) -> str:
    lo, hi = row["fd_ci"]
    klo, khi = row["kid_ci"]
    return (
        f"{model}: FD_shapes {row['fd']:.1f} [{lo:.1f}, {hi:.1f}]  KID {row['kid']:.4f} "
        f"[{klo:.4f}, {khi:.4f}]  precision {row['precision']:.2f} recall {row['recall']:.2f}  "
        f"diversity {row['diversity']:.2f}  {row['images_per_s_batch1']:.1f} img/s (batch 1)"
    )


if __name__ == "__main__":
    main()
