"""The text-to-image trainer end to end on toy sizes: output loads with plain diffusers,
an interrupted run resumes to the same weights, fine-tuning and LoRA work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genlab.core.errors import GenlabError, ModelLoadError
from genlab.train.components import Architecture
from genlab.train.text2image import TrainConfig, train
from genlab.world.dataset import export

TINY = Architecture(
    resolution=16,
    max_tokens=24,
    text_width=32,
    text_layers=1,
    text_heads=2,
    unet_channels=(32, 32),
    unet_heads=2,
    vae_channels=(16, 16),
)


@pytest.fixture(scope="module")
def shapes_data(tmp_path_factory) -> Path:
    return export(tmp_path_factory.mktemp("shapes"), 24, 16, seed=3)


def tiny_config(**overrides) -> TrainConfig:
    settings = dict(
        steps=4,
        batch_size=4,
        vae_steps=2,
        vae_batch_size=4,
        checkpoint_every=2,
        sample_every=4,
        sample_steps=2,
        sample_prompts=("a red circle", "two blue stars"),
        architecture=TINY,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_from_scratch_output_is_a_plain_diffusers_pipeline(shapes_data, tmp_path):
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    out = tmp_path / "model"
    result = train(tiny_config(), shapes_data, out)
    assert result.images == 24 and result.resumed_from is None
    assert [p.name for p in result.samples] == ["step-000004.png"]
    pipe = StableDiffusionPipeline.from_pretrained(str(out))
    assert isinstance(pipe.scheduler, DPMSolverMultistepScheduler)
    assert pipe.scheduler.config.prediction_type == "flow_prediction"
    assert pipe.tokenizer.model_max_length == 24
    # Caption words are whole tokens: the tokenizer was built from the captions.
    assert pipe.tokenizer.tokenize("red circle") == ["red</w>", "circle</w>"]
    assert pipe.vae.config.scaling_factor != 0.18215  # measured on the latents
    image = pipe("a red circle", num_inference_steps=2, height=16, width=16).images[0]
    assert image.size == (16, 16)
    assert (out / "training.json").is_file()


@pytest.mark.parametrize("resume_device", [None, "cpu"])
def test_interrupted_run_resumes_to_the_same_weights(resume_device, shapes_data, tmp_path):
    """Also across device settings: a run checkpointed under `auto` resumes under an
    explicit `cpu` (random draws stay on a CPU generator, whatever the device)."""
    config = tiny_config(steps=6, sample_every=0)
    train(config, shapes_data, tmp_path / "whole")

    class Stop(Exception):
        pass

    def stop_at_five(info):
        if info.stage == "diffusion" and info.step == 5:
            raise Stop

    with pytest.raises(Stop):
        train(config, shapes_data, tmp_path / "split", on_step=stop_at_five)
    if resume_device is not None:
        config = tiny_config(steps=6, sample_every=0, device=resume_device)
    result = train(config, shapes_data, tmp_path / "split")
    assert result.resumed_from == "diffusion step 4"
    if resume_device is not None:
        assert result.device == resume_device
    from safetensors.torch import load_file

    for part in ("unet", "text_encoder", "vae"):
        name = "model" if part == "text_encoder" else "diffusion_pytorch_model"
        name += ".safetensors"
        whole = load_file(tmp_path / "whole" / part / name)
        split = load_file(tmp_path / "split" / part / name)
        assert whole.keys() == split.keys()
        assert all(torch.equal(whole[k], split[k]) for k in whole), part


def test_resuming_with_other_settings_is_refused(shapes_data, tmp_path):
    train(tiny_config(steps=2, sample_every=0), shapes_data, tmp_path)
    with pytest.raises(GenlabError, match="other settings \\(lr\\)"):
        train(tiny_config(steps=2, sample_every=0, lr=1e-3), shapes_data, tmp_path)
    # More steps is a resumable change: training continues.
    result = train(tiny_config(steps=3, sample_every=0), shapes_data, tmp_path)
    assert result.resumed_from == "diffusion step 2"


def test_fine_tune_unet_changes_only_the_unet(tiny_sd_dir, shapes_data, tmp_path):
    from diffusers import StableDiffusionPipeline

    config = TrainConfig(
        init=str(tiny_sd_dir), train="unet", steps=2, batch_size=2, sample_every=0, lr=1e-2
    )
    train(config, shapes_data, tmp_path)
    before = StableDiffusionPipeline.from_pretrained(str(tiny_sd_dir))
    after = StableDiffusionPipeline.from_pretrained(str(tmp_path))
    unet_a, unet_b = before.unet.state_dict(), after.unet.state_dict()
    assert any(not torch.equal(unet_a[k], unet_b[k]) for k in unet_a)
    text_a, text_b = before.text_encoder.state_dict(), after.text_encoder.state_dict()
    assert all(torch.equal(text_a[k], text_b[k]) for k in text_a)


def test_fine_tune_lora_writes_weights_diffusers_loads(tiny_sd_dir, shapes_data, tmp_path):
    from diffusers import StableDiffusionPipeline

    config = TrainConfig(
        init=str(tiny_sd_dir), train="lora", steps=2, batch_size=2, sample_every=0, lr=1e-2
    )
    train(config, shapes_data, tmp_path)
    lora = tmp_path / "pytorch_lora_weights.safetensors"
    assert lora.is_file()
    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_sd_dir))
    pipe.load_lora_weights(str(tmp_path))
    assert pipe.get_active_adapters()


def test_init_that_is_not_a_pipeline_is_refused(shapes_data, tmp_path):
    (tmp_path / "notes").mkdir()
    config = TrainConfig(init=str(tmp_path / "notes"), train="unet", steps=1, sample_every=0)
    with pytest.raises(ModelLoadError, match="not a diffusers pipeline folder"):
        train(config, shapes_data, tmp_path / "out")


def test_train_part_needs_init():
    with pytest.raises(GenlabError, match="needs --init"):
        TrainConfig(train="lora")
