"""Labelled image grids: a batch laid out with a caption under each image.

Small generated images (16–64 px) are upscaled with nearest-neighbour so a grid
stays readable at a glance without blurring the pixels people want to inspect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

MIN_CELL = 128  # px: below this, labels would be wider than the images
PAD = 4
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)


def labelled_grid(
    images: Sequence[Image.Image], labels: Sequence[str], *, columns: int | None = None
) -> Image.Image:
    """Lay images out row-major, each with its label underneath."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    if not images:
        raise ValueError("a grid needs at least one image")
    if len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    width, height = images[0].size
    scale = max(1, math.ceil(MIN_CELL / max(width, height)))
    cell_w, cell_h = width * scale, height * scale
    font_size = max(10, min(18, cell_w // 10))
    font = ImageFont.load_default(size=font_size)
    label_h = font_size + 2 * PAD

    sheet = PILImage.new(
        "RGB",
        (columns * (cell_w + PAD) + PAD, rows * (cell_h + label_h + PAD) + PAD),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    for i, (image, label) in enumerate(zip(images, labels)):
        row, col = divmod(i, columns)
        x = PAD + col * (cell_w + PAD)
        y = PAD + row * (cell_h + label_h + PAD)
        cell = image.convert("RGB")
        if cell.size != (width, height):
            cell = cell.resize((width, height))
        sheet.paste(cell.resize((cell_w, cell_h), PILImage.Resampling.NEAREST), (x, y))
        text = fit_text(draw, label, font, cell_w)
        draw.text((x + cell_w / 2, y + cell_h + PAD), text, fill=TEXT, font=font, anchor="ma")
    return sheet


def fit_text(draw, text: str, font, width: float) -> str:
    """Shorten text with an ellipsis until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
