"""genlab's per-image overhead over calling the generator directly, and batching.

Baselines, measured in the same run:
  * procedural: Shapes World's `scene_from_prompt` + `render` called directly;
  * diffusers: a tiny real StableDiffusionPipeline called directly with the same
    prompt, size, steps and per-image CPU generators.
Ratios are genlab / direct (target <= 1.05) and, for batching, one batch of 16 vs
16 single calls through genlab.

    python benchmarks/overhead.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.tiny_pipeline

from genlab import GenerationRequest
from genlab.services.generation import EngineCache, generate

PROMPT = "two small yellow stars above a large purple hexagon at night"
SD_PROMPT = "a red circle above a blue square"


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first calls pay for lazy imports and allocator growth
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def interleaved(a: Callable[[], object], b: Callable[[], object], repeats: int):
    """Median times of a and b measured alternately, so drift hits both alike."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((a, ta), (b, tb)):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return statistics.median(ta), statistics.median(tb)


def report(label: str, baseline: str, t_base: float, t_genlab: float) -> None:
    print(
        f"{label:<34} baseline={baseline}: {t_base * 1000:8.2f} ms  "
        f"genlab: {t_genlab * 1000:8.2f} ms  ratio {t_genlab / t_base:5.3f}"
    )


def procedural(repeats: int) -> None:
    from genlab.world.parse import scene_from_prompt
    from genlab.world.render import render

    def direct() -> None:
        rng = random.Random(42)
        scene, _ = scene_from_prompt(PROMPT, rng)
        render(scene, 256, 256, rng=rng)

    cache = EngineCache()
    one = GenerationRequest(PROMPT, seed=42, width=256, height=256)
    t_direct, t_genlab = interleaved(direct, lambda: generate(one, engines=cache), repeats)
    report("procedural, 1 image 256px", "direct render", t_direct, t_genlab)

    batch = one.replace(batch_size=16)
    t_batch = median_time(lambda: generate(batch, engines=cache), repeats)
    t_singles = median_time(
        lambda: [generate(one.replace(seed=42 + i), engines=cache) for i in range(16)], repeats
    )
    report("procedural, batch 16 vs 16 singles", "16 singles", t_singles, t_batch)


def diffusers_tiny(repeats: int) -> None:
    import torch
    from diffusers import StableDiffusionPipeline
    from tests.tiny_pipeline import build_tiny_pipeline

    folder = build_tiny_pipeline(Path(tempfile.mkdtemp()) / "tiny-sd")
    pipe = StableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    steps, side = 20, 64

    def direct() -> None:
        pipe(
            SD_PROMPT,
            num_inference_steps=steps,
            height=side,
            width=side,
            guidance_scale=7.0,
            generator=[torch.Generator("cpu").manual_seed(1)],
        )

    cache = EngineCache()
    one = GenerationRequest(
        SD_PROMPT, model=str(folder), seed=1, steps=steps, width=side, height=side
    )
    t_direct, t_genlab = interleaved(direct, lambda: generate(one, engines=cache), repeats)
    report(f"diffusers tiny, 1 image {side}px {steps} st", "direct pipeline", t_direct, t_genlab)

    batch = one.replace(batch_size=16)
    t_batch = median_time(lambda: generate(batch, engines=cache), max(3, repeats // 2))
    t_singles = median_time(
        lambda: [generate(one.replace(seed=1 + i), engines=cache) for i in range(16)],
        max(3, repeats // 2),
    )
    report("diffusers tiny, batch 16 vs singles", "16 singles", t_singles, t_batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=["procedural", "diffusers"])
    args = parser.parse_args()
    torch_threads = "n/a"
    if args.only != "procedural":
        import torch

        torch_threads = str(torch.get_num_threads())
    print(f"python {sys.version.split()[0]}, torch threads {torch_threads}")
    if args.only in (None, "procedural"):
        procedural(args.repeats)
    if args.only in (None, "diffusers"):
        diffusers_tiny(args.repeats)


if __name__ == "__main__":
    main()
