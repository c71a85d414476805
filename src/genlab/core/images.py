"""Opening user images the same way everywhere (init images, masks, tool inputs).

Modes are converted the documented way so every tool sees 8-bit RGB, or RGBA when
the file has transparency worth keeping:
  L, 1 → RGB · LA, PA, P with transparency → RGBA · P → RGB · CMYK, YCbCr, LAB → RGB ·
  I;16 / I / F (16/32-bit grey) → scaled to 8-bit by their full range, then RGB.
Pillow's decompression-bomb limit stays on, and its warning zone is refused too:
a file that decodes to ~90+ megapixels is almost always an attack or a mistake.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.core.errors import UnsupportedImage

if TYPE_CHECKING:
    from PIL import Image

_BIT_DEPTH_FULL_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I": 65535.0}


def open_image(path: Path | str, *, what: str = "image", keep_alpha: bool = True) -> Image.Image:
    """Open `path` fully decoded as RGB (or RGBA with keep_alpha); one-line errors."""
    from PIL import Image

    name = f"{what} {path}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return _normalise(image, keep_alpha)
    except FileNotFoundError:
        raise UnsupportedImage(f"{name} does not exist") from None
    except IsADirectoryError:
        raise UnsupportedImage(f"{name} is a folder, not an image file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsupportedImage(
            f"{name} is refused: over {Image.MAX_IMAGE_PIXELS} pixels (decompression bomb limit)"
        ) from None
    except Image.UnidentifiedImageError:
        raise UnsupportedImage(f"{name} is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UnsupportedImage(f"{name} is corrupt or truncated: {err}") from None


def _normalise(image: Image.Image, keep_alpha: bool) -> Image.Image:
    from PIL import Image

    mode = image.mode
    if mode in _BIT_DEPTH_FULL_SCALE or mode == "F":
        import numpy as np

        data = np.asarray(image, dtype=np.float64)
        top = _BIT_DEPTH_FULL_SCALE.get(mode) or max(float(data.max()), 1e-12)
        if mode == "I" and data.max() <= 255:  # 8-bit data stored as 32-bit ints
            top = 255.0
        grey = np.clip(data / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha and keep_alpha:
        return image.convert("RGBA")
    if mode == "RGB":
        return image.copy()
    if has_alpha:
        # Composite on white rather than dropping alpha, so hidden pixels stay hidden.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")
