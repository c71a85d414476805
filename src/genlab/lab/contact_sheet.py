"""Contact sheets: a sweep's images in a table with column (X) and row (Y) headers.

    ┌──────────────────────────────────────────┐
    │ title (the Z value), when there is one   │
    ├──────────┬───────────────────────────────┤
    │          │     column axis name          │
    │ row axis │ label 0 │ label 1 │ …         │
    ├──────────┼─────────┼─────────┼───────────┤
    │ label 0  │  cell   │  cell   │           │
    │ label 1  │  cell   │  cell   │           │

Small images are upscaled nearest-neighbour to at least MIN_CELL px (as in
genlab.core.grid), so the pixels stay sharp and labels fit. Cells of different sizes
(a size axis) share one scale, so their sizes still compare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genlab.core.grid import BACKGROUND, MIN_CELL, PAD, TEXT, fit_text

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

MAX_COLUMN_LABEL_LINES = 3
# Row labels can be whole prompts (phrase order): allow this much width before wrapping.
MAX_ROW_HEADER = 240


@dataclass(frozen=True)
class SheetLayout:
    rows: int
    columns: int
    scale: int  # nearest-neighbour factor applied to every image
    cell: tuple[int, int]  # (w, h) of one cell after scaling
    line_height: int
    title_height: int
    header_height: int  # the column header band, under the title
    row_header_width: int

    @property
    def size(self) -> tuple[int, int]:
        width = self.row_header_width + self.columns * (self.cell[0] + PAD) + PAD
        height = self.title_height + self.header_height + self.rows * (self.cell[1] + PAD) + PAD
        return width, height

    def cell_origin(self, row: int, column: int) -> tuple[int, int]:
        x = self.row_header_width + PAD + column * (self.cell[0] + PAD)
        y = self.title_height + self.header_height + PAD + row * (self.cell[1] + PAD)
        return x, y


def contact_sheet(
    images: Sequence[Sequence[Image.Image]],
    *,
    column_labels: Sequence[str],
    row_labels: Sequence[str],
    column_title: str = "",
    row_title: str = "",
    title: str = "",
) -> Image.Image:
    """`images[row][column]` laid out under their headers; empty titles take no space."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    layout, font = sheet_layout(
        images,
        column_labels=column_labels,
        row_labels=row_labels,
        column_title=column_title,
        row_title=row_title,
        title=title,
    )
    sheet = PILImage.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    line = layout.line_height
    grid_left = layout.row_header_width + PAD
    grid_width = layout.size[0] - grid_left - PAD
    if title:
        draw.text((layout.size[0] / 2, PAD), title, fill=TEXT, font=font, anchor="ma")
    top = layout.title_height
    if column_title:
        text = fit_text(draw, column_title, font, grid_width)
        draw.text((grid_left + grid_width / 2, top + PAD), text, fill=TEXT, font=font, anchor="ma")
        top += line
    if row_title:
        text = fit_text(draw, row_title, font, layout.row_header_width - 2 * PAD)
        draw.text((PAD, top + PAD), text, fill=TEXT, font=font)
    for column, label in enumerate(column_labels):
        x = layout.cell_origin(0, column)[0] + layout.cell[0] / 2
        for i, text in enumerate(_wrap(draw, label, font, layout.cell[0], MAX_COLUMN_LABEL_LINES)):
            draw.text((x, top + PAD + i * line), text, fill=TEXT, font=font, anchor="ma")
    for row, label in enumerate(row_labels):
        y = layout.cell_origin(row, 0)[1]
        width = layout.row_header_width - 2 * PAD
        for i, text in enumerate(_wrap(draw, label, font, width, layout.cell[1] // line)):
            draw.text((PAD, y + i * line), text, fill=TEXT, font=font)
    for row, images_in_row in enumerate(images):
        for column, image in enumerate(images_in_row):
            scaled = image.convert("RGB").resize(
                (image.width * layout.scale, image.height * layout.scale),
                PILImage.Resampling.NEAREST,
            )
            sheet.paste(scaled, layout.cell_origin(row, column))
    return sheet


def sheet_layout(
    images: Sequence[Sequence[Image.Image]],
    *,
    column_labels: Sequence[str],
    row_labels: Sequence[str],
    column_title: str = "",
    row_title: str = "",
    title: str = "",
) -> tuple[SheetLayout, ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    """Where everything goes, and the font the labels use."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    rows, columns = len(images), len(images[0]) if images else 0
    if not rows or not columns or any(len(r) != columns for r in images):
        raise ValueError("a contact sheet needs a full, non-empty table of images")
    if len(column_labels) != columns or len(row_labels) != rows:
        raise ValueError(
            f"{len(column_labels)} column and {len(row_labels)} row labels for "
            f"{columns} columns and {rows} rows"
        )
    width = max(image.width for r in images for image in r)
    height = max(image.height for r in images for image in r)
    scale = max(1, math.ceil(MIN_CELL / max(width, height)))
    cell = (width * scale, height * scale)
    font_size = max(12, min(18, cell[0] // 10))
    font = ImageFont.load_default(size=font_size)
    line = font_size + PAD
    draw = ImageDraw.Draw(PILImage.new("RGB", (1, 1)))

    has_columns = bool(column_title) or any(column_labels)
    label_lines = max(
        len(_wrap(draw, label, font, cell[0], MAX_COLUMN_LABEL_LINES)) for label in column_labels
    )
    header = (int(bool(column_title)) + label_lines) * line + PAD if has_columns else 0
    if row_title and not has_columns:
        header = line + PAD  # the row axis name still needs a line above the rows
    row_width = 0
    if row_title or any(row_labels):
        widest = max(draw.textlength(text, font=font) for text in (row_title, *row_labels))
        row_width = min(int(widest) + 2 * PAD, max(MAX_ROW_HEADER, cell[0]))
    title_height = line + PAD if title else 0
    layout = SheetLayout(rows, columns, scale, cell, line, title_height, header, row_width)
    return layout, font


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: float, max_lines: int) -> list[str]:
    """Words in lines of at most `width` px; the last line ends in … when text is left."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max(1, max_lines):
        line = words.pop(0)
        while words and draw.textlength(f"{line} {words[0]}", font=font) <= width:
            line = f"{line} {words.pop(0)}"
        lines.append(line)
    if words:
        lines[-1] = f"{lines[-1]} {' '.join(words)}"
    return [fit_text(draw, line, font, width) for line in lines] or [""]
