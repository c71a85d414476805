"""Colour transfer: each method moves the statistics it promises to move."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.transform import resize

from genlab.core.errors import InvalidRequest
from genlab.transfer.colour import (
    distribution_transfer,
    lalphabeta_stats,
    match_histograms_lab,
    regrain_colours,
    reinhard,
    rgb_to_lab,
    sliced_wasserstein,
)
from genlab.transfer.recolor import recolor


def small(image: np.ndarray, width: int = 160) -> np.ndarray:
    height = round(image.shape[0] * width / image.shape[1])
    return (resize(image, (height, width), anti_aliasing=True) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return small(data.astronaut())


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return small(data.coffee())


def test_reinhard_matches_reference_lalphabeta_mean_and_std(astronaut, coffee) -> None:
    out = reinhard(astronaut, coffee)
    mean_out, std_out = lalphabeta_stats(out)
    mean_ref, std_ref = lalphabeta_stats(coffee)
    mean_src, _ = lalphabeta_stats(astronaut)
    assert np.abs(mean_src - mean_ref).max() > 0.05  # the test means something
    np.testing.assert_allclose(mean_out, mean_ref, atol=0.02)
    np.testing.assert_allclose(std_out, std_ref, rtol=0.12)


def test_reinhard_onto_itself_changes_nothing(astronaut) -> None:
    out = reinhard(astronaut, astronaut)
    assert np.abs(out.astype(int) - astronaut).max() <= 2


def test_histogram_matches_reference_lab_histograms(astronaut, coffee) -> None:
    out = match_histograms_lab(astronaut, coffee)
    levels = np.linspace(0.05, 0.95, 19)
    q_out = np.quantile(rgb_to_lab(out).reshape(-1, 3), levels, axis=0)
    q_ref = np.quantile(rgb_to_lab(coffee).reshape(-1, 3), levels, axis=0)
    q_src = np.quantile(rgb_to_lab(astronaut).reshape(-1, 3), levels, axis=0)
    # Lab units. Matched channels can combine into colours outside sRGB, which are clipped
    # on the way back to 8 bits, so a few tail quantiles move; the bulk matches closely.
    assert np.abs(q_src - q_ref).mean() > 10
    assert np.abs(q_out - q_ref).mean() < 1.5
    assert np.median(np.abs(q_out - q_ref)) < 0.5


def flat(image: np.ndarray) -> np.ndarray:
    return image.reshape(-1, 3) / 255.0


def test_distribution_transfer_moves_the_colour_distribution(astronaut, coffee) -> None:
    before = sliced_wasserstein(flat(astronaut), flat(coffee))
    out = distribution_transfer(astronaut, coffee, regrain=False)
    after = sliced_wasserstein(flat(out), flat(coffee))
    assert after < before / 5
    # Regrain trades a little of the match for the source's detail, but not much.
    regrained = distribution_transfer(astronaut, coffee)
    assert sliced_wasserstein(flat(regrained), flat(coffee)) < before / 3


def gradient_error(image: np.ndarray, source: np.ndarray) -> float:
    a, s = image.astype(np.float64), source.astype(np.float64)
    gy = np.diff(a, axis=0) - np.diff(s, axis=0)
    gx = np.diff(a, axis=1) - np.diff(s, axis=1)
    return float(np.abs(gy).mean() + np.abs(gx).mean())


def test_regrain_keeps_source_gradients(astronaut, coffee) -> None:
    grainy = distribution_transfer(astronaut, coffee, regrain=False)
    regrained = distribution_transfer(astronaut, coffee, regrain=True)
    assert gradient_error(regrained, astronaut) < 0.8 * gradient_error(grainy, astronaut)


def test_regrain_of_unchanged_image_is_identity() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((20, 30, 3)).astype(np.float32)
    np.testing.assert_allclose(regrain_colours(image, image), image, atol=1e-6)
    # A constant shift is smooth, so it passes through untouched.
    np.testing.assert_allclose(regrain_colours(image, image + 0.1), image + 0.1, atol=1e-5)


@pytest.mark.parametrize("method", ["reinhard", "histogram", "ot"])
def test_recolor_keeps_alpha_and_ignores_hidden_pixels(astronaut, coffee, method) -> None:
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:, :40, :3] = (0, 255, 0)  # garish green…
    rgba[:, :40, 3] = 0  # …that nobody sees
    result = recolor(Image.fromarray(rgba), like=Image.fromarray(coffee), method=method)
    out = np.asarray(result.image)
    assert result.image.mode == "RGBA"
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    shown = Image.fromarray(np.ascontiguousarray(astronaut[:, 40:]))
    plain = np.asarray(recolor(shown, like=Image.fromarray(coffee), method=method).image)
    # Hidden pixels do not change the statistics of the visible ones.
    assert np.abs(out[:, 40:, :3].astype(int) - plain).mean() < 2.0
    assert result.distance_after < result.distance_before


def test_strength_blends_and_is_checked(astronaut, coffee) -> None:
    src, ref = Image.fromarray(astronaut), Image.fromarray(coffee)
    unchanged = recolor(src, like=ref, strength=0.0).image
    np.testing.assert_array_equal(np.asarray(unchanged), astronaut)
    full = np.asarray(recolor(src, like=ref).image).astype(int)
    half = np.asarray(recolor(src, like=ref, strength=0.5).image).astype(int)
    assert np.abs(half - (full + astronaut) / 2).max() <= 1
    with pytest.raises(InvalidRequest, match="strength"):
        recolor(src, like=ref, strength=1.5)
    with pytest.raises(InvalidRequest, match="method"):
        recolor(src, like=ref, method="magic")
    with pytest.raises(InvalidRequest, match="exactly one"):
        recolor(src)
