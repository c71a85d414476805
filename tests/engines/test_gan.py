"""The gan engine on a tiny, randomly initialised generator saved the way the trainer
saves one: seeds reproduce, batches equal single images, truncation works and is
checked, what does not apply is said once, bad folders fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genlab.core.errors import EngineError, InvalidRequest, ModelLoadError
from genlab.core.metadata import infotext
from genlab.core.request import GenerationRequest
from genlab.engines import engine_name_for, load_engine
from genlab.engines.gan import NOT_APPLICABLE, GanEngine, native_side, slerp, walk
from genlab.engines.gan_net import GanConfig, Generator, save_generator
from genlab.services.generation import generate


@pytest.fixture(scope="module")
def gan_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = GanConfig(
        resolution=16, channels=(32, 16, 8), vocab=("a", "red", "circle", "blue", "star")
    )
    generator = Generator(config)
    with torch.no_grad():  # FiLM starts as identity; give it a real effect for the tests
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
        generator.w_avg.normal_()
    folder = tmp_path_factory.mktemp("gan")
    save_generator(generator, folder)
    return folder


@pytest.fixture(scope="module")
def engine(gan_dir) -> GanEngine:
    return GanEngine(gan_dir)


def pixels(image) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.array(image)).int()


def test_a_folder_selects_the_gan_engine(gan_dir, tmp_path):
    assert engine_name_for(str(gan_dir)) == "gan"
    assert engine_name_for(str(tmp_path)) == "diffusers"  # no GAN config: not a GAN
    assert load_engine(str(gan_dir)).name == "gan"
    assert native_side(str(gan_dir)) == 16


def test_same_seed_same_image_and_batches_equal_singles(engine):
    request = GenerationRequest("a red circle", seed=11, batch_size=3)
    batch = engine.generate(request)
    again = engine.generate(request)
    assert batch.seeds == (11, 12, 13)
    for a, b in zip(batch.images, again.images):
        assert torch.equal(pixels(a), pixels(b))
    alone = engine.generate(GenerationRequest("a red circle", seed=12)).images[0]
    assert (pixels(alone) - pixels(batch.images[1])).abs().max() <= 1
    assert not torch.equal(pixels(batch.images[0]), pixels(batch.images[1]))


def test_the_caption_changes_the_image(engine):
    red = engine.generate(GenerationRequest("a red circle", seed=3)).images[0]
    blue = engine.generate(GenerationRequest("a blue star", seed=3)).images[0]
    assert not torch.equal(pixels(red), pixels(blue))


def test_truncation_pulls_towards_the_mean_image(engine):
    def image(psi: float, seed: int):
        request = GenerationRequest("a red circle", seed=seed, truncation=psi)
        return pixels(engine.generate(request).images[0]).float()

    spread_full = (image(1.0, 1) - image(1.0, 2)).abs().mean()
    spread_low = (image(0.1, 1) - image(0.1, 2)).abs().mean()
    assert spread_low < spread_full


@pytest.mark.parametrize("psi", [0.0, -0.5, 1.5, float("nan"), True])
def test_truncation_outside_zero_one_is_refused(psi):
    with pytest.raises(InvalidRequest, match="truncation"):
        GenerationRequest("a red circle", truncation=psi)


def test_truncation_on_another_engine_is_refused():
    with pytest.raises(InvalidRequest, match="applies to GAN models only"):
        generate(GenerationRequest("a red circle", seed=1, truncation=0.7))


def test_what_does_not_apply_is_said_once_and_left_out_of_metadata(engine):
    request = GenerationRequest("a red circle", seed=4, steps=50, truncation=0.8)
    result = engine.generate(request)
    assert result.warnings == (NOT_APPLICABLE,)
    text = infotext(result, 0)
    assert "Steps:" not in text and "Sampler:" not in text and "CFG scale" not in text
    assert "Truncation psi: 0.8" in text and "Seed: 4" in text and "Size: 16x16" in text


def test_unknown_words_warn_once(engine):
    result = engine.generate(GenerationRequest("a red zebra", seed=1, batch_size=2))
    assert len(result.warnings) == 2
    assert "never saw in training: zebra" in result.warnings[1]


def test_other_sizes_and_image_inputs_are_refused(engine, tmp_path):
    with pytest.raises(EngineError, match="16x16 only"):
        engine.generate(GenerationRequest("a red circle", seed=1, width=32, height=32))
    with pytest.raises(EngineError, match="prompts only"):
        engine.generate(GenerationRequest("a red circle", seed=1, init_image="x.png"))


def test_broken_folders_fail_in_one_line(gan_dir, tmp_path):
    with pytest.raises(ModelLoadError, match=r"config\.json not found"):
        GanEngine(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "other"}))
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="cannot be loaded") as err:
        GanEngine(tmp_path)
    assert "\n" not in str(err.value)
    config = json.loads((gan_dir / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="cannot be loaded"):
        GanEngine(tmp_path)


def test_slerp_keeps_the_norm_of_unit_vectors_and_its_ends():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid.norm(), torch.tensor(1.0))
    assert torch.allclose(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-6)
    assert torch.allclose(slerp(a, a, 0.3), a)


def test_walk_ends_at_the_two_seeds_images(engine):
    frames = walk(engine, "a red circle", 5, 9, 4)
    assert len(frames) == 4
    start = engine.generate(GenerationRequest("a red circle", seed=5)).images[0]
    end = engine.generate(GenerationRequest("a red circle", seed=9)).images[0]
    assert (pixels(frames[0]) - pixels(start)).abs().max() <= 1
    assert (pixels(frames[-1]) - pixels(end)).abs().max() <= 1
    changed = walk(engine, "a red circle", 5, 5, 3, to_prompt="a blue star")
    blue = engine.generate(GenerationRequest("a blue star", seed=5)).images[0]
    assert (pixels(changed[-1]) - pixels(blue)).abs().max() <= 1
