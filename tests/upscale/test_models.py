from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from genlab.core.errors import InvalidRequest, ModelLoadError
from genlab.upscale.data import eval_pairs
from genlab.upscale.evaluate import score_pair
from genlab.upscale.loaders import SpandrelUpscaler, load_upscaler, upscale_image


def tiny_esrgan_state() -> dict[str, torch.Tensor]:
    """A real ESRGAN (RRDBNet) at the smallest width spandrel still recognises."""
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def esrgan_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sr") / "2x-tiny-esrgan.safetensors"
    save_file(tiny_esrgan_state(), str(path))
    return path


def test_spandrel_model_loads_and_runs(esrgan_file):
    upscaler = load_upscaler(str(esrgan_file), 2)
    assert isinstance(upscaler, SpandrelUpscaler)
    assert upscaler.native_scale == 2 and upscaler.name == esrgan_file.name
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 20, 3), np.uint8))
    out = upscale_image(image, upscaler, 2).image
    assert out.size == (40, 48) and out.mode == "RGB"
    tiled = upscale_image(image, upscaler, 2, tile=12).image
    assert tiled.size == out.size


def test_spandrel_model_refuses_a_larger_scale(esrgan_file):
    upscaler = load_upscaler(str(esrgan_file), 4)
    with pytest.raises(InvalidRequest, match="x2; use --scale 2"):
        upscale_image(Image.new("RGB", (8, 8)), upscaler, 4)


def test_random_safetensors_is_one_line_error(tmp_path):
    path = tmp_path / "not-a-model.safetensors"
    save_file({"weights": torch.randn(3, 4), "other": torch.zeros(2)}, str(path))
    with pytest.raises(ModelLoadError, match="not an architecture spandrel knows") as err:
        load_upscaler(str(path), 2)
    assert "\n" not in str(err.value)


def test_garbage_safetensors_is_one_line_error(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match=r"garbage\.safetensors") as err:
        load_upscaler(str(path), 2)
    assert "\n" not in str(err.value)


def test_pickle_needs_allow_pickle(tmp_path):
    path = tmp_path / "2x-tiny.pth"
    torch.save(tiny_esrgan_state(), path)
    with pytest.raises(ModelLoadError, match="--allow-pickle"):
        load_upscaler(str(path), 2)
    assert load_upscaler(str(path), 2, allow_pickle=True).native_scale == 2


def test_unknown_name_and_suffix(tmp_path):
    with pytest.raises(ModelLoadError, match="bicubic, lanczos, espcn"):
        load_upscaler("nearest", 2)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"suffix '\.onnx'"):
        load_upscaler(str(other), 2)


@pytest.mark.parametrize("scale", [2, 4])
def test_shipped_model_beats_bicubic_on_held_out_crop(scale):
    pair = eval_pairs(scale, ("astronaut",))[0]
    # a 128 px HR crop with texture (the face and suit edge) to keep the test fast
    hr = pair.hr[64:192, 192:320]
    lr = np.asarray(Image.fromarray(hr).resize((128 // scale,) * 2, Image.Resampling.BICUBIC))
    crop = type(pair)("astronaut-crop", hr, lr)
    score = score_pair(load_upscaler("espcn", scale), crop, scale)
    assert score.gain_db > 0.3, score
    assert score.ssim > score.bicubic_ssim


def test_shipped_scale_that_does_not_exist(tmp_path):
    with pytest.raises(InvalidRequest, match="genlab ships"):
        load_upscaler("espcn", 3)
