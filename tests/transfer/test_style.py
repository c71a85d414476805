"""Neural style transfer on tiny images with tiny budgets: real VGG-19 architecture,
random filters (seeded) or a random state dict written where torchvision looks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.core.errors import InvalidRequest, ModelLoadError, UnsupportedImage
from genlab.transfer.style import (
    StyleConfig,
    StyleStep,
    gram_matrix,
    stylize,
    to_ycbcr,
    total_variation,
)
from genlab.transfer.vgg import (
    FEATURES_FALLBACK,
    FEATURES_IMAGENET,
    WEIGHTS_FILE,
    build_features,
)

# Shallow layers keep each evaluation to milliseconds; the method is the same.
SHALLOW = {"content_layers": ("relu2_2",), "style_layers": ("relu1_1", "relu2_1")}


@pytest.fixture(autouse=True)
def no_cached_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point torchvision's cache at an empty folder: the fallback unless a test adds a file."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def photo(size: int = 48, seed: int = 0) -> Image.Image:
    """A smooth content picture: a bright disc on a gradient, plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    disc = ((xx - 0.4) ** 2 + (yy - 0.5) ** 2 < 0.08).astype(float)
    rgb = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 * np.ones_like(xx)], -1)
    rgb = rgb * (1 - disc[..., None]) + np.array([0.95, 0.85, 0.2]) * disc[..., None]
    rgb += rng.normal(0, 0.02, rgb.shape)
    return Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8))


def stripes(size: int = 48) -> Image.Image:
    """A colourful high-frequency style: diagonal red/blue stripes."""
    yy, xx = np.mgrid[0:size, 0:size]
    band = ((xx + yy) // 3) % 2
    rgb = np.where(band[..., None] == 1, [230, 30, 40], [20, 60, 220])
    return Image.fromarray(rgb.astype(np.uint8))


def test_gram_matrix_of_a_known_tensor() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    # F = [[1,2,3,4],[0,1,0,1]]; F F^T = [[30, 6], [6, 2]]; divided by C*H*W = 8.
    expected = torch.tensor([[[3.75, 0.75], [0.75, 0.25]]])
    assert torch.allclose(gram_matrix(x), expected)


def test_total_variation_of_a_known_image() -> None:
    x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # (1, 1, 2, 2): one vertical edge
    # Vertical neighbours equal (0), horizontal ones differ by 1 everywhere (mean 1).
    assert float(total_variation(x)) == pytest.approx(1.0)


def test_style_loss_falls_and_content_is_kept() -> None:
    seen: list[StyleStep] = []
    # A moderate style weight: these stripes are far from the photo in every statistic.
    config = StyleConfig(size=48, scales=1, iterations=25, style_weight=3.0, **SHALLOW)
    result = stylize(photo(), stripes(), config, on_step=seen.append)
    first, last = seen[0].losses, seen[-1].losses
    assert last["style"] < 0.3 * first["style"]
    assert last["content"] < first["style"]  # content drifts a little, boundedly
    out = np.asarray(result.image.convert("L"), dtype=float)
    ref = np.asarray(photo().convert("L"), dtype=float)
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.5
    assert result.image.size == (48, 48)
    assert not np.array_equal(np.asarray(result.image), np.asarray(photo()))


def test_fallback_is_taken_and_named_when_weights_are_absent(
    caplog: pytest.LogCaptureFixture, no_cached_weights: Path
) -> None:
    with caplog.at_level(logging.WARNING, logger="genlab.transfer"):
        result = stylize(photo(32), stripes(32), StyleConfig(size=32, scales=1, iterations=2))
    assert result.features == FEATURES_FALLBACK
    assert result.params()["features"] == FEATURES_FALLBACK
    notices = [r.getMessage() for r in caplog.records if "random-filter fallback" in r.message]
    assert len(notices) == 1 and "\n" not in notices[0]
    assert str(no_cached_weights / "hub" / "checkpoints" / WEIGHTS_FILE) in notices[0]


def _torchvision_state_dict() -> dict[str, torch.Tensor]:
    """A random state dict with torchvision's VGG-19 feature keys and shapes."""
    from torchvision.models import vgg

    torch.manual_seed(0)
    features = vgg.make_layers(vgg.cfgs["E"])
    return {f"features.{k}": v for k, v in features.state_dict().items()}


def test_weights_in_torchvisions_cache_are_used(no_cached_weights: Path) -> None:
    state = _torchvision_state_dict()
    target = no_cached_weights / "hub" / "checkpoints" / WEIGHTS_FILE
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    net, source = build_features("relu2_1")
    assert source.label == FEATURES_IMAGENET and source.path == target
    assert torch.equal(net.features[5].weight, state["features.5.weight"])  # conv2_1
    result = stylize(photo(32), stripes(32), StyleConfig(size=32, scales=1, iterations=2))
    assert result.features == FEATURES_IMAGENET and result.notice is None


def test_safetensors_weights_and_bad_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v for k, v in _torchvision_state_dict().items() if k < "features.3"}
    good = tmp_path / "vgg.safetensors"
    save_file(state, str(good))
    _, source = build_features("relu1_2", weights=good)
    assert source.label == FEATURES_IMAGENET
    with pytest.raises(ModelLoadError, match=r"lack features\.5\.weight"):
        build_features("relu2_1", weights=good)  # too few layers in the file
    garbage = tmp_path / "vgg.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelLoadError, match="cannot be read") as err:
        build_features("relu1_1", weights=garbage)
    assert "\n" not in str(err.value)
    with pytest.raises(ModelLoadError, match="do not exist"):
        build_features("relu1_1", weights=tmp_path / "missing.pth")


def test_preserve_colours_keeps_the_contents_chroma() -> None:
    config = StyleConfig(size=48, scales=1, iterations=15, preserve_colours=True, **SHALLOW)
    kept = stylize(photo(), stripes(), config).image
    free = stylize(photo(), stripes(), StyleConfig(size=48, scales=1, iterations=15, **SHALLOW))

    def chroma(image: Image.Image) -> np.ndarray:
        return to_ycbcr(np.asarray(image, dtype=np.float64) / 255.0)[..., 1:]

    content = chroma(photo())
    assert np.abs(chroma(kept) - content).mean() < 0.01
    assert np.abs(chroma(free.image) - content).mean() > 0.03  # the style's colours came in
    luma = to_ycbcr(np.asarray(kept, dtype=np.float64) / 255.0)[..., 0]
    assert np.abs(luma - to_ycbcr(np.asarray(photo()) / 255.0)[..., 0]).mean() > 0.01


def test_every_scale_runs_coarse_to_fine_with_its_budget() -> None:
    seen: list[StyleStep] = []
    config = StyleConfig(size=64, scales=3, iterations=3, coarse_iterations=4, **SHALLOW)
    result = stylize(photo(64), stripes(64), config, on_step=seen.append)
    per_scale = {}
    for step in seen:
        per_scale.setdefault((step.scale, step.width, step.height), 0)
        per_scale[(step.scale, step.width, step.height)] += 1
    assert per_scale == {(1, 16, 16): 4, (2, 32, 32): 4, (3, 64, 64): 3}
    assert result.sizes == ((16, 16), (32, 32), (64, 64))
    assert [s.evaluation for s in seen] == list(range(1, 12)) and seen[-1].total == 11
    # The output is the finest scale's best evaluated image, not L-BFGS's last step.
    assert result.losses["loss"] == min(s.losses["loss"] for s in seen if s.scale == 3)


def test_default_layers_reach_relu5_1_at_the_minimum_size() -> None:
    result = stylize(photo(32), stripes(32), StyleConfig(size=32, scales=2, iterations=2))
    assert result.sizes == ((16, 16), (32, 32))


def test_too_small_images_and_too_many_scales_are_refused() -> None:
    with pytest.raises(UnsupportedImage, match=r"content image is 12x12 px.*at least 16 px"):
        stylize(photo(12), stripes(), StyleConfig(size=32, scales=1))
    with pytest.raises(UnsupportedImage, match=r"style image is 40x10 px"):
        stylize(photo(), stripes().resize((40, 10)), StyleConfig(size=32, scales=1))
    with pytest.raises(InvalidRequest, match=r"scales=3.*at most 2 scale"):
        stylize(photo(), stripes(), StyleConfig(size=32, scales=3))
    with pytest.raises(InvalidRequest, match="strength"):
        StyleConfig(strength=1.5)
    with pytest.raises(InvalidRequest, match="style_layers"):
        StyleConfig(style_layers=("relu9_9",))


def test_strength_zero_gives_back_the_content_and_alpha_is_kept() -> None:
    content = photo()
    alpha = Image.linear_gradient("L").resize(content.size)
    content.putalpha(alpha)
    config = StyleConfig(size=48, scales=1, iterations=5, strength=0.0, tv_weight=0.0, **SHALLOW)
    result = stylize(content, stripes(), config)
    assert result.image.mode == "RGBA"
    assert np.array_equal(np.asarray(result.image.getchannel("A")), np.asarray(alpha))
    rgb = np.asarray(result.image.convert("RGB"), dtype=int)
    assert np.abs(rgb - np.asarray(content.convert("RGB"), dtype=int)).max() <= 1


def test_frames_arrive_every_n_evaluations_at_output_size() -> None:
    frames: list[tuple[int, tuple[int, int]]] = []
    config = StyleConfig(size=32, scales=2, iterations=4, coarse_iterations=4, frame_every=3)
    config = StyleConfig(**{**config.__dict__, **SHALLOW})
    stylize(photo(), stripes(), config, on_frame=lambda n, im: frames.append((n, im.size)))
    assert frames == [(3, (32, 32)), (6, (32, 32))]
