"""The GAN's sampling speed: images per second at batch 64, 64 px, through the engine
contract (noise per seed, caption tokens, forward pass, PIL images), against the
built-in diffusion model at its tuned defaults (8 steps, DPM++ 2M, guidance 5) on the
same machine in the same run. The issue's target is >= 50 images/s on 2 CPU cores.

    python benchmarks/gan_speed.py [--model gan|FOLDER] [--threads 2] [--repeats 3]
        [--baseline-batch 16] [--json out.json]

The ratio printed is GAN images/s over built-in images/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from genlab.services.generation import EngineCache, generate, new_request

PROMPT = "a large red circle left of a small blue square at golden hour"
TARGET = 50.0  # images a second at batch 64 on 2 cores


def images_per_second(model: str, batch: int, repeats: int, engines: EngineCache) -> float:
    request = new_request(prompt=PROMPT, model=model, batch_size=batch, seed=0)
    generate(request, engines=engines)  # warm-up (and load)
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        generate(request.replace(seed=1000 * (i + 1)), engines=engines)
        times.append(time.perf_counter() - started)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gan")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-batch", type=int, default=16)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    engines = EngineCache()
    gan = images_per_second(args.model, 64, args.repeats, engines)
    engines.clear()
    builtin = images_per_second("builtin", args.baseline_batch, args.repeats, EngineCache())
    ratio = gan / builtin
    print(f"threads {args.threads}, median of {args.repeats}")
    print(f"{args.model}: {gan:.1f} images/s at batch 64 (target {TARGET:g})")
    print(
        f"baseline builtin, 8 steps DPM++ 2M: {builtin:.2f} images/s at batch {args.baseline_batch}"
    )
    print(f"ratio gan / builtin: {ratio:.0f}x; target {'met' if gan >= TARGET else 'NOT met'}")
    if args.json:
        result = dict(gan=gan, builtin=builtin, ratio=ratio, threads=args.threads, target=TARGET)
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
