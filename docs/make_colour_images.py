"""Regenerate the colour pictures of docs/image-tools.md from scikit-image sample photos.

    python docs/make_colour_images.py

Writes docs/images/colour-methods.png, colour-presets.png and colour-palette.png.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from genlab.transfer.colour import transfer
from genlab.transfer.palette import (
    extract_palette,
    preset,
    preset_names,
    recolor_to_palette,
    render_swatch,
)

OUT = Path(__file__).parent / "images"
TILE = 128  # px wide per picture


def tile(image: np.ndarray, width: int = TILE) -> np.ndarray:
    height = round(image.shape[0] * width / image.shape[1])
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def strip(rows: list[list[np.ndarray]], labels: list[str]) -> Image.Image:
    """Rows of equal-width tiles, cropped to the shortest, under a caption row."""
    height = min(t.shape[0] for row in rows for t in row)
    width = rows[0][0].shape[1]
    caption = 18
    canvas = Image.new("RGB", (width * len(labels), caption + height * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=12)
    for i, label in enumerate(labels):
        draw.text((i * width + 4, 3), label, fill=(40, 40, 40), font=font)
    for r, row in enumerate(rows):
        for i, picture in enumerate(row):
            canvas.paste(Image.fromarray(picture[:height]), (i * width, caption + r * height))
    return canvas


def save(image: Image.Image, name: str) -> None:
    path = OUT / name
    # 256 dithered colours look the same at this size and keep each file well under 150 KB.
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        path, optimize=True
    )
    print(f"{path}  {path.stat().st_size // 1024} KB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pairs = [(data.astronaut(), data.coffee()), (data.rocket(), data.chelsea())]
    rows = []
    for source, reference in pairs:
        source, reference = tile(source), tile(reference)
        results = [transfer(source, reference, method=m) for m in ("reinhard", "histogram", "ot")]
        rows.append([source, reference, *results])
    save(strip(rows, ["source", "reference", "reinhard", "histogram", "ot"]), "colour-methods.png")

    names = list(preset_names())
    rows = []
    for photo in (data.coffee(), data.astronaut()):
        source = tile(photo, 112)
        rows.append([source, *(recolor_to_palette(source, preset(n)) for n in names)])
    save(strip(rows, ["source", *names]), "colour-presets.png")

    found = extract_palette(data.astronaut(), 6)
    save(render_swatch(found, width=420), "colour-palette.png")


if __name__ == "__main__":
    main()
