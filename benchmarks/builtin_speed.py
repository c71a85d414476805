"""The built-in model's speed and prompt adherence per steps × sampler, and against
plain diffusers defaults on the same weights.

For each setting (8/15/25 steps × DPM++ 2M / UniPC, guidance 5): images per second
at batch 1 and batch 16, and adherence on the held-out prompt set. The baseline,
measured in the same run: `StableDiffusionPipeline.from_pretrained(builtin folder)`
called with its defaults (50 steps, guidance 7.5, the folder's scheduler). The
recommended default is the fastest setting within 0.02 of the best adherence; the
ratio printed is its batch-1 speed over the baseline's.

    python benchmarks/builtin_speed.py [--images-per-prompt 4] [--json out.json]
        [--model FOLDER]

`--model` times a candidate pipeline folder (a new release before it ships) in place
of the packaged model; the baseline then loads that folder too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from genlab.engines.builtin import builtin_folder
from genlab.metrics.adherence import evaluate
from genlab.services.evaluation import adherence
from genlab.services.generation import EngineCache, generate, new_request

STEPS = (8, 15, 25)
SAMPLERS = ("DPM++ 2M", "UniPC")
GUIDANCE = 5.0
PROMPT = "a large red circle left of a small blue square at golden hour"


def images_per_second(run: Callable[[int], object], batch: int, repeats: int) -> float:
    run(batch)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - started)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-prompt", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--model", default="builtin", help="builtin or a pipeline folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    engines = EngineCache()
    rows = []
    for sampler in SAMPLERS:
        for steps in STEPS:
            settings = {"steps": steps, "sampler": sampler, "guidance_scale": GUIDANCE}

            def run(batch: int, settings=settings) -> None:
                request = new_request(prompt=PROMPT, model=args.model, batch_size=batch, **settings)
                generate(request.with_seed(), engines=engines)

            speed1 = images_per_second(run, 1, args.repeats)
            speed16 = images_per_second(run, 16, args.repeats)
            report = adherence(
                args.model, images_per_prompt=args.images_per_prompt, settings=settings
            )
            rows.append(
                {
                    "setting": f"{sampler}, {steps} steps",
                    **settings,
                    "images_per_s_batch1": speed1,
                    "images_per_s_batch16": speed16,
                    "adherence": report.overall,
                    "adherence_ci": [report.overall_low, report.overall_high],
                }
            )
            print_row(rows[-1])

    baseline = plain_diffusers_baseline(args)
    print_row(baseline)
    best = max(r["adherence"] for r in rows)
    eligible = [r for r in rows if r["adherence"] >= best - 0.02]
    default = max(eligible, key=lambda r: r["images_per_s_batch1"])
    ratio1 = default["images_per_s_batch1"] / baseline["images_per_s_batch1"]
    ratio16 = default["images_per_s_batch16"] / baseline["images_per_s_batch16"]
    print(
        f"\nrecommended default: {default['setting']} (best adherence {best:.3f}; "
        f"fastest within 0.02)"
    )
    print(
        f"speed vs plain StableDiffusionPipeline defaults (50 steps): "
        f"{ratio1:.2f}x at batch 1, {ratio16:.2f}x at batch 16; adherence "
        f"{default['adherence']:.3f} vs {baseline['adherence']:.3f}"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "rows": rows,
                    "baseline": baseline,
                    "default": default,
                    "ratio_batch1": ratio1,
                    "ratio_batch16": ratio16,
                    "threads": torch.get_num_threads(),
                    "images_per_prompt": args.images_per_prompt,
                },
                handle,
                indent=2,
            )


def plain_diffusers_baseline(args) -> dict:
    from diffusers import StableDiffusionPipeline

    folder = builtin_folder() if args.model == "builtin" else Path(args.model)
    pipe = StableDiffusionPipeline.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)

    def draw(prompt: str, n: int, seed: int = 0):
        generators = [torch.Generator().manual_seed(seed + i) for i in range(n)]
        with torch.inference_mode():
            return pipe([prompt] * n, generator=generators).images

    speed1 = images_per_second(lambda b: draw(PROMPT, b), 1, args.repeats)
    speed16 = images_per_second(lambda b: draw(PROMPT, b), 16, args.repeats)
    report = evaluate("plain diffusers", draw, images_per_prompt=args.images_per_prompt)
    return {
        "setting": "StableDiffusionPipeline defaults (50 steps, guidance 7.5)",
        "steps": 50,
        "guidance_scale": 7.5,
        "images_per_s_batch1": speed1,
        "images_per_s_batch16": speed16,
        "adherence": report.overall,
        "adherence_ci": [report.overall_low, report.overall_high],
    }


def print_row(row: dict) -> None:
    low, high = row["adherence_ci"]
    print(
        f"{row['setting']:<58} batch 1: {row['images_per_s_batch1']:6.2f} img/s  "
        f"batch 16: {row['images_per_s_batch16']:6.2f} img/s  "
        f"adherence {row['adherence']:.3f} [{low:.3f}, {high:.3f}]",
        flush=True,
    )


if __name__ == "__main__":
    main()
