"""Prompt adherence of the built-in model between its ceiling and its floors.

Rows, all on the same held-out prompt set, same images per prompt and seeds:
  * procedural — Shapes World's renderer: the ceiling (what a perfect model scores,
    less the detector's own errors);
  * builtin — the shipped model at its default settings;
  * builtin, prompt ignored — the same model drawing from an empty prompt: what
    images of the right kind score by chance;
  * random init — the same architecture with untrained weights: the floor.

    python benchmarks/builtin_adherence.py [--images-per-prompt 4] [--json out.json]
        [--rows procedural,builtin,ignored,random]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import torch

from genlab.engines.builtin import builtin_folder
from genlab.metrics.adherence import AdherenceReport, evaluate
from genlab.services.evaluation import adherence
from genlab.services.generation import EngineCache, generate, new_request


def random_init_copy(folder: Path) -> Path:
    """The built-in pipeline with every weight re-initialised (same config, tokenizer)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(builtin_folder()))
    torch.manual_seed(0)
    for model in (pipe.unet, pipe.vae, pipe.text_encoder):
        for module in model.modules():
            if hasattr(module, "reset_parameters") and module is not model:
                module.reset_parameters()
    pipe.save_pretrained(str(folder))
    return folder


def prompt_ignored(images_per_prompt: int) -> AdherenceReport:
    engines = EngineCache()

    def draw(prompt: str, n: int):
        request = new_request(prompt="", model="builtin", seed=0, batch_size=n)
        return list(generate(request, engines=engines).images)

    return evaluate("builtin, prompt ignored", draw, images_per_prompt=images_per_prompt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-prompt", type=int, default=4)
    parser.add_argument("--json", default=None)
    parser.add_argument("--rows", default="procedural,builtin,ignored,random")
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # untrained weights produce denormals on CPU
    n = args.images_per_prompt
    rows = args.rows.split(",")
    reports = []
    if "procedural" in rows:
        reports.append(adherence("procedural", images_per_prompt=n))
    if "builtin" in rows:
        reports.append(adherence("builtin", images_per_prompt=n))
    if "ignored" in rows:
        reports.append(prompt_ignored(n))
    if "random" in rows:
        with tempfile.TemporaryDirectory() as tmp:
            folder = random_init_copy(Path(tmp) / "random-init")
            report = adherence(str(folder), images_per_prompt=n, settings={"steps": 15})
            reports.append(dataclasses.replace(report, model="random init"))
    categories = [c.category for c in reports[0].categories]
    header = f"{'model':<26}" + "".join(f"{c:>21}" for c in categories) + f"{'overall':>22}"
    print(header)
    for report in reports:
        cells = {c.category: c for c in report.categories}
        line = f"{report.model:<26}"
        for category in categories:
            c = cells[category]
            line += f"{c.accuracy:>11.3f} [{c.low:.2f},{c.high:.2f}]"
        line += f"   {report.overall:.3f} [{report.overall_low:.3f}, {report.overall_high:.3f}]"
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_dict() for r in reports], indent=2))


if __name__ == "__main__":
    main()
