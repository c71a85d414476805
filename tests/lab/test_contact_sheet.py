"""Contact-sheet layout: size from grid shape, cell and headers; labels drawn where expected."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genlab.core.grid import BACKGROUND, PAD
from genlab.lab.contact_sheet import contact_sheet, sheet_layout

COLOURS = [(200, 30, 30), (30, 160, 60), (40, 60, 200)]


def table(rows: int, columns: int, side: int = 32) -> list[list[Image.Image]]:
    return [
        [Image.new("RGB", (side, side), COLOURS[(r + c) % 3]) for c in range(columns)]
        for r in range(rows)
    ]


def inked(sheet: Image.Image, box: tuple[int, int, int, int]) -> bool:
    """Whether anything but background was drawn inside `box`."""
    region = np.asarray(sheet.crop(box))
    return bool((region != np.array(BACKGROUND, dtype=np.uint8)).any())


LABELS = {
    "column_labels": ["3", "7.5", "12"],
    "row_labels": ["red", "blue"],
    "column_title": "guidance_scale",
    "row_title": "Prompt S/R",
    "title": "seed: 42",
}


def test_size_is_grid_shape_times_cell_plus_headers() -> None:
    images = table(2, 3)
    sheet = contact_sheet(images, **LABELS)
    layout, _ = sheet_layout(images, **LABELS)
    assert layout.scale == 4 and layout.cell == (128, 128)  # 32 px upscaled to >= 128
    assert sheet.size == layout.size
    grid_w, grid_h = 3 * (128 + PAD) + PAD, 2 * (128 + PAD) + PAD
    assert sheet.size == (
        layout.row_header_width + grid_w,
        layout.title_height + layout.header_height + grid_h,
    )
    assert layout.row_header_width > 0 and layout.header_height > 0 and layout.title_height > 0


def test_labels_are_drawn_over_each_column_and_beside_each_row() -> None:
    images = table(2, 3)
    sheet = contact_sheet(images, **LABELS)
    layout, _ = sheet_layout(images, **LABELS)
    label_top = layout.title_height + layout.line_height  # under the column axis name
    label_bottom = layout.title_height + layout.header_height
    for column in range(3):
        x, _ = layout.cell_origin(0, column)
        assert inked(sheet, (x, label_top, x + layout.cell[0], label_bottom)), column
    for row in range(2):
        _, y = layout.cell_origin(row, 0)
        assert inked(sheet, (0, y, layout.row_header_width, y + layout.cell[1])), row
    assert inked(sheet, (0, 0, sheet.width, layout.title_height))  # the Z title


def test_an_empty_label_leaves_its_strip_blank() -> None:
    images = table(1, 2)
    labels = {"column_labels": ["", "seed 2"], "row_labels": [""], "column_title": "seed"}
    sheet = contact_sheet(images, **labels)
    layout, _ = sheet_layout(images, **labels)
    top, bottom = layout.line_height, layout.header_height
    x0, _ = layout.cell_origin(0, 0)
    x1, _ = layout.cell_origin(0, 1)
    assert not inked(sheet, (x0, top, x0 + layout.cell[0], bottom))
    assert inked(sheet, (x1, top, x1 + layout.cell[0], bottom))
    assert layout.row_header_width == 0  # no row axis: no row header


def test_cells_are_upscaled_nearest_neighbour() -> None:
    image = Image.new("RGB", (16, 16), (0, 0, 0))
    image.putpixel((3, 5), (255, 255, 0))
    sheet = contact_sheet([[image]], column_labels=[""], row_labels=[""])
    layout, _ = sheet_layout([[image]], column_labels=[""], row_labels=[""])
    assert layout.scale == 8 and sheet.size == (128 + 2 * PAD, 128 + 2 * PAD)
    x, y = layout.cell_origin(0, 0)
    block = np.asarray(sheet.crop((x + 24, y + 40, x + 32, y + 48)))
    assert (block == (255, 255, 0)).all()  # one source pixel became a sharp 8x8 block


def test_long_labels_wrap_and_shorten_instead_of_overflowing() -> None:
    long = "a red circle, at night, watercolour style, " * 4
    images = table(1, 2)
    labels = {"column_labels": [long, "b"], "row_labels": [long], "row_title": "phrase order"}
    layout, _ = sheet_layout(images, **labels)
    assert layout.row_header_width <= 240
    assert layout.header_height <= 3 * layout.line_height + PAD


def test_label_counts_must_match_the_table() -> None:
    with pytest.raises(ValueError, match="2 column and 1 row labels for 3 columns and 1 rows"):
        contact_sheet(table(1, 3), column_labels=["a", "b"], row_labels=["r"])
