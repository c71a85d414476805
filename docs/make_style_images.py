"""Regenerate the pictures of docs/image-tools.md (style section) (docs/images/style-*.png).

    python docs/make_style_images.py

Content: scikit-image's astronaut photo; style: a colourful procedural pattern drawn
here. The features used (ImageNet VGG-19 or the random-filter fallback) are printed
and belong in the captions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from genlab.transfer.style import StyleConfig, stylize

HERE = Path(__file__).parent / "images"
SIZE = 160  # small pictures: each well under 200 KB, a few minutes on two CPU cores


def pattern(size: int = 256) -> Image.Image:
    """Warm and cool brush-like waves: strong colours and strokes a few px wide."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    phase = np.sin(14 * xx + 6 * np.sin(5 * yy)) + np.sin(11 * yy + 4 * np.cos(7 * xx))
    hue = (phase - phase.min()) / (phase.max() - phase.min())
    stroke = 0.5 + 0.5 * np.sin(60 * (xx + 0.3 * yy) + 3 * phase)
    rgb = np.stack(
        [0.9 * hue + 0.1, 0.3 + 0.5 * stroke * (1 - hue), 0.8 * (1 - hue) + 0.2 * stroke], -1
    )
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    content = Image.fromarray(data.astronaut()).crop((96, 0, 416, 320))  # the face
    style = pattern()
    content.resize((SIZE, SIZE), Image.LANCZOS).save(HERE / "style-content.png")
    style.resize((SIZE, SIZE), Image.LANCZOS).save(HERE / "style-pattern.png")
    base = {"size": SIZE, "scales": 2, "coarse_iterations": 100, "iterations": 60, "seed": 0}
    runs = {
        "style-result.png": StyleConfig(**base),
        "style-preserve-colours.png": StyleConfig(**base, preserve_colours=True),
        "style-strength-half.png": StyleConfig(**base, strength=0.5),
    }
    for name, config in runs.items():
        result = stylize(content, style, config)
        result.image.save(HERE / name, optimize=True)
        print(f"{name}: features {result.features}, {result.seconds:.0f}s")


if __name__ == "__main__":
    main()
