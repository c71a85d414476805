"""Regenerate the pictures of docs/prompt-language.md with the built-in model.

    python docs/make_prompt_language_images.py

Writes docs/images/prompt-language.png (editing, alternation, AND, each beside its
plain prompts) and docs/images/hires-tiling.png (hires fix; a tiling image repeated
2x2). One seed for every picture, so the differences are the prompt's alone.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from genlab import GenerationRequest
from genlab.core.grid import labelled_grid
from genlab.services.generation import EngineCache, generate

OUT = Path(__file__).parent / "images"
SEED = 11
SIDE = 96  # shown size of each picture

PROMPTS = [
    "a red circle",
    "a blue square",
    "[a red circle:a blue square:0.5]",
    "[a red circle|a blue square]",
    "a red circle AND a blue square",
    "a red circle AND a blue square:0.4",
]


def picture(engines: EngineCache, prompt: str, **fields) -> Image.Image:
    request = GenerationRequest(prompt, model="builtin", seed=SEED, **fields)
    image = generate(request, engines=engines).images[0]
    return image.resize((SIDE, SIDE), Image.Resampling.NEAREST)


def save(image: Image.Image, name: str) -> None:
    path = OUT / name
    image.save(path, optimize=True)
    print(f"{path}  {path.stat().st_size // 1024} KB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    engines = EngineCache()
    images = [picture(engines, p) for p in PROMPTS]
    save(labelled_grid(images, PROMPTS, columns=2), "prompt-language.png")

    plain = picture(engines, "a green triangle")
    hires = generate(
        GenerationRequest(
            "a green triangle", model="builtin", seed=SEED, hires_scale=2, hires_denoise=0.5
        ),
        engines=engines,
    ).images[0]
    tile = generate(
        GenerationRequest("a yellow star", model="builtin", seed=SEED, tiling=True),
        engines=engines,
    ).images[0]
    repeated = Image.new("RGB", (tile.width * 2, tile.height * 2))
    for x in (0, tile.width):
        for y in (0, tile.height):
            repeated.paste(tile, (x, y))
    labels = ["64 px", "hires fix x2, Latent", "tiling, repeated 2x2"]
    shown = [plain, hires.resize((SIDE * 2, SIDE * 2)), repeated.resize((SIDE * 2, SIDE * 2))]
    save(
        labelled_grid([im.resize((SIDE * 2, SIDE * 2)) for im in shown], labels), "hires-tiling.png"
    )


if __name__ == "__main__":
    main()
