"""Does the adherence judge agree with a person? The old judge (v1) against the new (v2).

Renders the adherence benchmark's prompts with Shapes World (as `genlab eval adherence`
draws them: prompt i, seeds 0 … n-1, at 64 px), then, for each judge:
  * kept — of the renders the judge accepts, the share it still accepts after each
    change no person would call a different picture (a tint of a few levels, JPEG,
    a 0.5 px blur, noise at 40 dB PSNR), with 95% Wilson intervals;
  * rejected — renders of the wrong scene (another shape, colour, count or relation,
    from `wrong_prompts`) that the judge refuses, which it should all be.
The baseline is v1 measured in the same run on the same images.

    python benchmarks/judge_validation.py [--seeds 5] [--first-seed 0] [--size 64]
        [--json out.json]

Seeds 0-8 served to choose v2's tolerances; for a fair figure use others (the model
card's table: --first-seed 100).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.metrics.adherence import DISTURBANCES, judge, prompt_set, wrong_prompts
from genlab.world.detect import TOLERANCES, detect
from genlab.world.parse import scene_from_prompt
from genlab.world.render import render

KINDS = ("shape", "colour", "count", "position")


def draw(prompt: str, seed: int, size: int) -> Image.Image:
    """The image the procedural engine draws for `prompt` with this seed."""
    rng = random.Random(seed)
    scene, _ = scene_from_prompt(prompt, rng)
    return render(scene, size, size, rng=rng)


def psnr(a: Image.Image, b: Image.Image) -> float:
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255**2 / error))


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def share(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / max(n, 1):.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="images per prompt")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    judges = list(TOLERANCES)
    prompts = prompt_set()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.perf_counter()

    # 1. Correct renders: verdicts on each, clean and under each disturbance
    verdicts = {j: {c: [] for c in ("clean", *DISTURBANCES)} for j in judges}
    loss = {name: [] for name in DISTURBANCES}
    for item in prompts:
        for seed in seeds:
            image = draw(item.prompt, seed, args.size)
            for condition in ("clean", *DISTURBANCES):
                changed = image if condition == "clean" else DISTURBANCES[condition](image, seed)
                if condition != "clean":
                    loss[condition].append(psnr(image, changed))
                for j in judges:
                    found = detect(changed, tolerances=j)
                    verdicts[j][condition].append(judge(item.prompt, found))

    # 2. Wrong renders: each prompt judged against renders of a scene it does not describe
    rejected = {j: {k: [0, 0] for k in KINDS} for j in judges}
    for item in prompts:
        for seed in seeds:
            for kind, wrong in wrong_prompts(item.prompt, seed).items():
                image = draw(wrong, seed, args.size)
                for j in judges:
                    tally = rejected[j][kind]
                    tally[0] += not judge(item.prompt, detect(image, tolerances=j))
                    tally[1] += 1

    # 3. Report
    n = len(prompts) * args.seeds
    print(
        f"{len(prompts)} prompts x seeds {seeds.start}-{seeds.stop - 1} = {n} renders "
        f"at {args.size}px"
    )
    print(f"{'condition':<16}{'PSNR dB':>9}" + "".join(f"{j + ' kept':>34}" for j in judges))
    results: dict = {"renders": n, "size": args.size, "seeds": list(seeds), "judges": {}}
    for j in judges:
        clean = verdicts[j]["clean"]
        results["judges"][j] = {"clean": {"correct": sum(clean), "renders": n}, "kept": {}}
    print(
        f"{'clean':<16}{'':>9}"
        + "".join(f"{share(sum(verdicts[j]['clean']), n):>34}" for j in judges)
    )
    for condition in DISTURBANCES:
        line = f"{condition:<16}{np.median(loss[condition]):>9.1f}"
        for j in judges:
            before, after = verdicts[j]["clean"], verdicts[j][condition]
            kept = sum(b and a for b, a in zip(before, after, strict=True))
            line += f"{share(kept, sum(before)):>34}"
            low, high = wilson(kept, sum(before))
            results["judges"][j]["kept"][condition] = {
                "kept": kept,
                "correct_before": sum(before),
                "share": kept / max(sum(before), 1),
                "ci95": [low, high],
                "median_psnr_db": float(np.median(loss[condition])),
            }
        print(line)
    print("wrong renders rejected (should be all):")
    for kind in KINDS:
        line = f"  {kind:<12}"
        for j in judges:
            k, total = rejected[j][kind]
            line += f"{j}: {share(k, total):<32}"
            results["judges"][j].setdefault("rejected", {})[kind] = {
                "rejected": k,
                "renders": total,
            }
        print(line)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
