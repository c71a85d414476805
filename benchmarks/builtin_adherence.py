"""Prompt adherence of the built-in model between its ceiling and its floors.

Rows, all on the same held-out prompt set, same images per prompt and seeds:
  * procedural — Shapes World's renderer: the ceiling (what a perfect model scores,
    less the detector's own errors);
  * builtin — the shipped model at its default settings;
  * builtin, prompt ignored — the same model drawing from an empty prompt: what
    images of the right kind score by chance;
  * random init — the same architecture with untrained weights: the floor;
  * autoencoder — the procedural images sent through the model's own autoencoder
    (encode, decode): the most any denoiser on this latent space could score.
Each row's images are judged twice: by the detector's perceptual tolerances (v2, what
`genlab eval adherence` uses) and by the first judge's (v1), so a change of judge shows.

    python benchmarks/builtin_adherence.py [--images-per-prompt 4] [--json out.json]
        [--rows procedural,builtin,ignored,random,autoencoder] [--model FOLDER]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from genlab.engines import model_defaults
from genlab.engines.builtin import builtin_folder
from genlab.metrics.adherence import AdherenceReport, GenerateImages, evaluate
from genlab.services.generation import EngineCache, generate, new_request
from genlab.world.detect import DEFAULT_TOLERANCES, TOLERANCES

# The judge the table leads with, then the others on the same images.
JUDGES = (DEFAULT_TOLERANCES, *(t for t in TOLERANCES if t != DEFAULT_TOLERANCES))


def random_init_copy(source: Path, folder: Path) -> Path:
    """The pipeline with every weight re-initialised (same config, tokenizer)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(source))
    torch.manual_seed(0)
    for model in (pipe.unet, pipe.vae, pipe.text_encoder):
        for module in model.modules():
            if hasattr(module, "reset_parameters") and module is not model:
                module.reset_parameters()
    pipe.save_pretrained(str(folder))
    return folder


def judged(model: str, draw: GenerateImages, images_per_prompt: int) -> list[AdherenceReport]:
    """The row scored by every judge in JUDGES, on the same images (drawn once)."""
    drawn: dict[str, list] = {}

    def once(prompt: str, n: int):
        if prompt not in drawn:
            drawn[prompt] = draw(prompt, n)
        return drawn[prompt]

    return [
        evaluate(model, once, images_per_prompt=images_per_prompt, tolerances=judge)
        for judge in JUDGES
    ]


def engine_rows(
    model: str, images_per_prompt: int, settings: dict, *, label: str | None = None
) -> list[AdherenceReport]:
    """`model` drawing each prompt with seeds 0 … n-1 in one batch, as `genlab eval
    adherence` does."""
    engines = EngineCache()
    base = new_request(prompt="", model=model, seed=0, **settings)

    def draw(prompt: str, n: int):
        request = base.replace(prompt=prompt, batch_size=n)
        return list(generate(request, engines=engines).images)

    return judged(label or model, draw, images_per_prompt)


def prompt_ignored(model: str, images_per_prompt: int, settings: dict) -> list[AdherenceReport]:
    engines = EngineCache()

    def draw(prompt: str, n: int):
        request = new_request(prompt="", model=model, seed=0, batch_size=n, **settings)
        return list(generate(request, engines=engines).images)

    return judged(f"{model}, prompt ignored", draw, images_per_prompt)


@torch.no_grad()
def autoencoder_round_trip(source: Path, images_per_prompt: int) -> list[AdherenceReport]:
    """Procedural renders at the model's size, encoded and decoded by its autoencoder."""
    import numpy as np
    from diffusers import AutoencoderKL
    from PIL import Image

    vae = AutoencoderKL.from_pretrained(str(source / "vae")).eval()
    engines = EngineCache()

    def draw(prompt: str, n: int):
        request = new_request(prompt=prompt, model="procedural", seed=0, batch_size=n)
        request = request.replace(width=64, height=64)
        images = generate(request, engines=engines).images
        x = torch.from_numpy(np.stack([np.array(i.convert("RGB")) for i in images]))
        x = x.permute(0, 3, 1, 2).float() / 127.5 - 1
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        pixels = ((y.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().astype(np.uint8)
        return [Image.fromarray(p) for p in pixels]

    return judged("autoencoder round trip", draw, images_per_prompt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-prompt", type=int, default=4)
    parser.add_argument("--json", default=None)
    parser.add_argument("--rows", default="procedural,builtin,ignored,random,autoencoder")
    parser.add_argument("--model", default="builtin", help="builtin or a pipeline folder")
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # untrained weights produce denormals on CPU
    n = args.images_per_prompt
    rows = args.rows.split(",")
    reports = []
    if "procedural" in rows:
        reports += engine_rows("procedural", n, {})
    source = builtin_folder() if args.model == "builtin" else Path(args.model)
    # A folder measured in place of the packaged model gets the packaged model's
    # tuned settings, so the rows compare weights, not settings.
    tuned = {} if args.model == "builtin" else model_defaults("builtin")
    if "builtin" in rows:
        reports += engine_rows(args.model, n, tuned)
    if "ignored" in rows:
        reports += prompt_ignored(args.model, n, tuned)
    if "autoencoder" in rows:
        reports += autoencoder_round_trip(source, n)
    if "random" in rows:
        with tempfile.TemporaryDirectory() as tmp:
            folder = random_init_copy(source, Path(tmp) / "random-init")
            reports += engine_rows(str(folder), n, {"steps": 15}, label="random init")
    categories = [c.category for c in reports[0].categories]
    header = f"{'model':<30}" + "".join(f"{c:>21}" for c in categories) + f"{'overall':>22}"
    print(header)
    for report in reports:
        cells = {c.category: c for c in report.categories}
        line = f"{report.model[:25] + ' ' + report.tolerances:<30}"
        for category in categories:
            c = cells[category]
            line += f"{c.accuracy:>11.3f} [{c.low:.2f},{c.high:.2f}]"
        line += f"   {report.overall:.3f} [{report.overall_low:.3f}, {report.overall_high:.3f}]"
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_dict() for r in reports], indent=2))


if __name__ == "__main__":
    main()
