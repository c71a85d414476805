from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.upscale.espcn import ESPCN, ESPCNConfig
from genlab.upscale.loaders import ESPCNUpscaler, Resampler, upscale_image
from genlab.upscale.tiling import count_tiles, upscale_tiled


def random_espcn(scale: int = 2, channels: str = "y") -> ESPCN:
    torch.manual_seed(0)
    model = ESPCN(ESPCNConfig(scale=scale, channels=channels, features=(8, 8)))
    torch.nn.init.normal_(model.body[-1].weight, std=0.1)  # not the zero (bicubic) start
    return model.eval()


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled(scale):
    model = random_espcn(scale)
    x = torch.rand(1, 1, 45, 61)  # larger than a tile, not a multiple of it
    whole = upscale_tiled(model, x, scale, tile=0)
    seen = []
    tiled = upscale_tiled(model, x, scale, tile=16, overlap=8, on_tile=lambda d, t: seen.append(t))
    assert tiled.shape == (1, 1, 45 * scale, 61 * scale)
    assert seen == [count_tiles(45, 61, 16)] * 12
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


def test_too_little_overlap_shows_seams():
    model = random_espcn()
    x = torch.rand(1, 1, 40, 40)
    whole = upscale_tiled(model, x, 2, tile=0)
    assert not torch.allclose(upscale_tiled(model, x, 2, tile=16, overlap=0), whole, atol=1e-5)


def test_rgb_image_tiled_matches_untiled_pixels():
    upscaler = ESPCNUpscaler(random_espcn(), "random")
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), "RGB")
    a = np.asarray(upscale_image(image, upscaler, 2, tile=0).image, dtype=int)
    b = np.asarray(upscale_image(image, upscaler, 2, tile=24).image, dtype=int)
    assert a.shape == (100, 140, 3)
    assert np.abs(a - b).max() <= 1  # float order may flip a rounding


def test_alpha_is_kept_and_upscaled_with_bicubic():
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    image = Image.fromarray(rgba, "RGBA")
    out = upscale_image(image, ESPCNUpscaler(random_espcn(), "random"), 2).image
    assert out.mode == "RGBA" and out.size == (60, 40)
    expected = image.getchannel("A").resize((60, 40), Image.Resampling.BICUBIC)
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(expected))


def test_untrained_espcn_is_bicubic_on_luma():
    # The residual starts at zero, so the untrained network reproduces its bicubic base.
    model = ESPCN(ESPCNConfig())
    x = torch.rand(1, 1, 12, 12)
    base = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic")
    torch.testing.assert_close(model(x), base)


def test_larger_native_scale_is_resized_down():
    image = Image.new("RGB", (10, 8), (200, 30, 40))
    result = upscale_image(image, ESPCNUpscaler(random_espcn(4), "x4net"), 2)
    assert result.image.size == (20, 16)
    assert "resized to x2" in result.upscaler
    baseline = upscale_image(image, Resampler("bicubic"), 4)
    assert baseline.image.size == (40, 32) and baseline.notes == ()
