"""PSNR and SSIM the way super-resolution papers report them.

Both are computed on luma only: Y of BT.601 YCbCr with studio range,
`Y = 16 + 65.481 R + 128.553 G + 24.966 B` for R, G, B in [0, 1] (MATLAB's
`rgb2ycbcr`), so Y lies in [16, 235] and the peak used for PSNR is 255. `scale`
pixels are shaved off every border first, because the outermost pixels depend on
how each method pads the image, not on how well it upscales.

SSIM is Wang et al. (2004): an 11×11 Gaussian window with σ = 1.5, K1 = 0.01,
K2 = 0.03, population (not sample) statistics, and the mean taken over the pixels
whose window lies fully inside the image.
"""

from __future__ import annotations

import numpy as np

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (H, W) float64 Y in [16, 235]."""
    return 16.0 + (rgb.astype(np.float64) / 255.0) @ _Y_WEIGHTS


def to_model_space(rgb: np.ndarray, channels: str) -> np.ndarray:
    """(H, W, 3) uint8 → (C, H, W) float32 in [0, 1]: Y/255 for "y", RGB/255 for "rgb"."""
    if channels == "y":
        return (rgb_to_y(rgb) / 255.0).astype(np.float32)[None]
    if channels == "rgb":
        return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1).copy()
    raise ValueError(f"channels={channels!r} is invalid: must be 'y' or 'rgb'")


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Drop `border` pixels from each side of the first two axes."""
    if border == 0:
        return image
    return image[border:-border, border:-border]


def psnr(reference: np.ndarray, test: np.ndarray, *, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of two same-shape float arrays."""
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {test.shape}")
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(data_range**2 / mse)


def ssim(reference: np.ndarray, test: np.ndarray, *, data_range: float = 255.0) -> float:
    """Mean structural similarity of two same-shape 2-D arrays (Gaussian window)."""
    from scipy.ndimage import gaussian_filter

    if reference.shape != test.shape or reference.ndim != 2:
        raise ValueError(f"need two equal 2-D arrays, got {reference.shape} and {test.shape}")
    x, y = reference.astype(np.float64), test.astype(np.float64)

    def blur(a: np.ndarray) -> np.ndarray:
        # truncate 3.5σ → radius 5 → the 11×11 window of the paper
        return gaussian_filter(a, sigma=1.5, truncate=3.5, mode="reflect")

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(shave(ssim_map, 5).mean())  # only windows fully inside the image


def sr_scores(reference_rgb: np.ndarray, test_rgb: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR dB, SSIM) on Y with a `scale`-pixel border crop; inputs (H, W, 3) uint8."""
    ref = shave(rgb_to_y(reference_rgb), scale)
    out = shave(rgb_to_y(test_rgb), scale)
    return psnr(ref, out), ssim(ref, out)
