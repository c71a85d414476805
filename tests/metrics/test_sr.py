from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genlab.metrics.sr import psnr, rgb_to_y, shave, sr_scores, ssim


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    noise = rng.integers(-25, 26, a.shape)
    return a, np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)


def test_y_is_bt601_studio_range():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 200, 30]]], dtype=np.uint8)
    expected = [16 + 65.481 * r + 128.553 * g + 24.966 * b for r, g, b in rgb[0] / 255.0]
    np.testing.assert_allclose(rgb_to_y(rgb)[0], expected)
    assert rgb_to_y(rgb)[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(rgb)[0, 1] == pytest.approx(235.0)


def test_psnr_matches_skimage(pair):
    a, b = (rgb_to_y(x) for x in pair)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    assert psnr(a, a) == float("inf")


def test_ssim_matches_skimage_gaussian_wang(pair):
    a, b = (rgb_to_y(x) for x in pair)
    expected = structural_similarity(
        a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)


def test_sr_scores_crop_the_border(pair):
    a, b = pair
    b = b.copy()
    b[:2] = 255 - a[:2]  # damage only the outer rows a ×2 crop removes
    clean = np.array(pair[1])
    clean[:2] = a[:2]
    assert sr_scores(a, b, 2) == pytest.approx(sr_scores(a, clean, 2))
    assert sr_scores(a, b, 1)[0] < sr_scores(a, b, 2)[0]
    assert shave(np.zeros((10, 12)), 3).shape == (4, 6)


def test_psnr_refuses_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
