"""Tiled inference: upscale a large image piece by piece so memory stays bounded.

The input is cut into a grid of `tile`×`tile` cores. Each core is run with
`overlap` extra input pixels of context on every side (less at the image edge),
and only the core's part of the output is kept. A network whose receptive field
fits inside the overlap therefore gives exactly the untiled result; a larger one
(SwinIR, HAT) differs only slightly near the seams, far less than blending would
smear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

Upscaler = Callable[[torch.Tensor], torch.Tensor]  # (1, C, h, w) → (1, C', h*s, w*s)

# 16 LR pixels of context: more than ESPCN's receptive field (4), and enough that
# convolutional SR networks (ESRGAN's effective field is a few dozen pixels, mostly
# weighted near the centre) show no visible seams.
DEFAULT_OVERLAP = 16


def tiles(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """Core boxes (top, left, bottom, right) covering the image in row-major order."""
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            yield top, left, min(top + tile, height), min(left + tile, width)


def count_tiles(height: int, width: int, tile: int) -> int:
    if tile <= 0:
        return 1
    return (-(-height // tile)) * (-(-width // tile))


@torch.no_grad()
def upscale_tiled(
    run: Upscaler,
    image: torch.Tensor,
    scale: int,
    *,
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """`run` over `image` (1, C, H, W) in tiles of `tile` input pixels; 0 means whole."""
    _, _, height, width = image.shape
    total = count_tiles(height, width, tile)
    if tile <= 0 or (height <= tile and width <= tile):
        out = run(image)
        if on_tile is not None:
            on_tile(1, 1)
        return out
    out: torch.Tensor | None = None
    for done, (top, left, bottom, right) in enumerate(tiles(height, width, tile), start=1):
        # the window: the core plus `overlap` pixels of context, clamped to the image
        y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
        y1, x1 = min(bottom + overlap, height), min(right + overlap, width)
        piece = run(image[:, :, y0:y1, x0:x1])  # (1, C', (y1-y0)*s, (x1-x0)*s)
        if out is None:
            out = piece.new_empty(1, piece.shape[1], height * scale, width * scale)
        core = piece[
            :,
            :,
            (top - y0) * scale : (bottom - y0) * scale,
            (left - x0) * scale : (right - x0) * scale,
        ]
        out[:, :, top * scale : bottom * scale, left * scale : right * scale] = core
        if on_tile is not None:
            on_tile(done, total)
    assert out is not None
    return out
