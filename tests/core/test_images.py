from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.core.errors import UnsupportedImage
from genlab.core.images import open_image


def test_greyscale_palette_cmyk_become_rgb(tmp_path: Path) -> None:
    Image.new("L", (8, 8), 100).save(tmp_path / "l.png")
    Image.new("RGB", (8, 8), (10, 200, 30)).convert("P").save(tmp_path / "p.png")
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    assert open_image(tmp_path / "l.png").getpixel((0, 0)) == (100, 100, 100)
    assert open_image(tmp_path / "p.png").mode == "RGB"
    red = open_image(tmp_path / "c.jpg").getpixel((4, 4))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_alpha_kept_or_composited_on_white(tmp_path: Path) -> None:
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(tmp_path / "a.png")
    assert open_image(tmp_path / "a.png").mode == "RGBA"
    assert open_image(tmp_path / "a.png", keep_alpha=False).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_scaled_by_full_range(tmp_path: Path) -> None:
    data = np.full((8, 8), 65535 // 2, dtype=np.uint16)
    Image.fromarray(data).save(tmp_path / "deep.png")  # mode I;16
    assert open_image(tmp_path / "deep.png").getpixel((0, 0)) == (
        127,
        127,
        127,
    )  # 32767/65535 of full scale


def test_bad_files_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "text.png").write_text("hello")
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64)).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:60])
    with pytest.raises(UnsupportedImage, match="not an image"):
        open_image(tmp_path / "text.png")
    with pytest.raises(UnsupportedImage, match="corrupt or truncated"):
        open_image(tmp_path / "cut.png")
    with pytest.raises(UnsupportedImage, match="does not exist"):
        open_image(tmp_path / "missing.png", what="init image")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 is now a "bomb"
    with pytest.raises(UnsupportedImage, match="decompression bomb"):
        open_image(good)
