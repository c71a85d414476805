"""Single-file checkpoints in the original SD 1.x layout, as AUTOMATIC1111 users have.

The file is the tiny pipeline folder rewritten in the CompVis/LDM key layout
(tests/single_file.py); loaded with `--config` pointing at the folder, it must be
the same model as the folder, down to the pixels.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab import GenerationRequest, LoadOptions
from genlab.core.errors import ModelLoadError
from genlab.engines import load_engine
from genlab.engines.diffusers_engine import DiffusersEngine
from tests.single_file import (
    CLIP_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    _component,
    write_original_sd_checkpoint,
)


@pytest.fixture(scope="module")
def checkpoint(tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("single-file")
    return write_original_sd_checkpoint(tiny_sd_dir, folder / "tiny-sd15-original.safetensors")


@pytest.fixture(scope="module")
def file_engine(checkpoint: Path, tiny_sd_dir: Path) -> DiffusersEngine:
    return load_engine(str(checkpoint), LoadOptions(config=str(tiny_sd_dir)))


@pytest.fixture(scope="module")
def folder_engine(tiny_sd_dir: Path) -> DiffusersEngine:
    return load_engine(str(tiny_sd_dir))


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_checkpoint_has_the_original_layout(checkpoint: Path) -> None:
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type, is_clip_model

    state = load_checkpoint(checkpoint)
    assert {key.split(".")[0] for key in state} == {
        "model",
        "first_stage_model",
        "cond_stage_model",
    }
    assert all(key.startswith((UNET_PREFIX, VAE_PREFIX, CLIP_PREFIX)) for key in state)
    # Landmarks of the original layout, at the tiny model's positions.
    assert f"{UNET_PREFIX}input_blocks.2.0.op.weight" in state  # block 0's downsampler
    assert f"{UNET_PREFIX}output_blocks.1.2.conv.weight" in state  # upsampler after attention
    assert f"{UNET_PREFIX}middle_block.1.transformer_blocks.0.attn2.to_k.weight" in state
    assert f"{VAE_PREFIX}decoder.up.1.upsample.conv.weight" in state  # reversed up blocks
    assert state[f"{VAE_PREFIX}encoder.mid.attn_1.q.weight"].shape == (8, 8, 1, 1)
    assert is_clip_model(state)
    assert infer_diffusers_model_type(state) == "v1"


def test_diffusers_conversion_gives_back_every_tensor(checkpoint: Path, tiny_sd_dir: Path) -> None:
    """diffusers' own original->diffusers conversion undoes ours exactly."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    state = load_checkpoint(checkpoint)
    unet, unet_config = _component(tiny_sd_dir / "unet")
    vae, vae_config = _component(tiny_sd_dir / "vae")
    clip, _ = _component(tiny_sd_dir / "text_encoder")
    clip_back = {
        key.removeprefix("text_model."): value
        for key, value in convert_ldm_clip_checkpoint(state).items()
    }
    for original, back in (
        (unet, convert_ldm_unet_checkpoint(state, unet_config)),
        (vae, convert_ldm_vae_checkpoint(state, vae_config)),
        ({k.removeprefix("text_model."): v for k, v in clip.items()}, clip_back),
    ):
        assert set(back) == set(original)
        for key, value in original.items():
            assert torch.equal(back[key], value), key


def test_loads_with_config_folder_as_the_same_model(
    file_engine: DiffusersEngine, folder_engine: DiffusersEngine
) -> None:
    assert type(file_engine.pipe) is type(folder_engine.pipe)
    for name in ("unet", "vae", "text_encoder"):
        loaded = getattr(file_engine.pipe, name).state_dict()
        expected = getattr(folder_engine.pipe, name).state_dict()
        assert set(loaded) == set(expected), name
        for key, value in expected.items():
            assert torch.equal(loaded[key].cpu(), value.cpu()), f"{name}.{key}"
    assert dict(file_engine.pipe.scheduler.config) == dict(folder_engine.pipe.scheduler.config)


def test_file_and_folder_generate_the_same_pixels(
    file_engine: DiffusersEngine, folder_engine: DiffusersEngine
) -> None:
    request = GenerationRequest("a red (circle:1.2) on a blue sky", seed=7, steps=3, batch_size=2)
    from_file = file_engine.generate(request)
    from_folder = folder_engine.generate(request)
    assert [im.size for im in from_file.images] == [(16, 16), (16, 16)]
    for a, b in zip(from_file.images, from_folder.images):
        a, b = np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16)
        assert np.abs(a - b).max() <= 1
        assert a.std() > 0  # a real image, not a constant produced by missing weights


def test_name_is_the_file_stem_and_hash_the_file_sha256(
    file_engine: DiffusersEngine, checkpoint: Path
) -> None:
    expected = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    assert file_engine.model == "tiny-sd15-original"
    assert file_engine.model_hash == expected
    result = file_engine.generate(GenerationRequest("a cat", seed=1, steps=1))
    assert result.model == "tiny-sd15-original"
    assert result.model_hash == expected


def test_ckpt_is_refused_without_allow_pickle(
    checkpoint: Path, tiny_sd_dir: Path, tmp_path: Path
) -> None:
    renamed = shutil.copyfile(checkpoint, tmp_path / "tiny-sd15-original.ckpt")
    with pytest.raises(ModelLoadError, match="--allow-pickle"):
        load_engine(str(renamed), LoadOptions(config=str(tiny_sd_dir)))


def test_pickled_ckpt_loads_with_allow_pickle(
    checkpoint: Path, tiny_sd_dir: Path, tmp_path: Path, folder_engine: DiffusersEngine
) -> None:
    """A real .ckpt (torch.save of {"state_dict": ...}, as the original code wrote
    them) loads when the user allows pickles, and is the same model."""
    ckpt = tmp_path / "tiny-sd15-original.ckpt"
    torch.save({"state_dict": load_checkpoint(checkpoint)}, ckpt)
    engine = load_engine(str(ckpt), LoadOptions(config=str(tiny_sd_dir), allow_pickle=True))
    assert engine.model == "tiny-sd15-original"
    assert engine.model_hash == hashlib.sha256(ckpt.read_bytes()).hexdigest()[:10]
    request = GenerationRequest("a green square", seed=3, steps=2)
    a = np.asarray(engine.generate(request).images[0], dtype=np.int16)
    b = np.asarray(folder_engine.generate(request).images[0], dtype=np.int16)
    assert np.abs(a - b).max() <= 1
