"""The pixel design (no-downsampling autoencoder, attention only on small maps,
v-prediction), training in two sittings (autoencoder first, judged, then the rest),
and runs that resume on another machine's copy of the same data."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.train import checkpoint as ckpt
from genlab.train.components import PRESETS, Architecture, build_unet, build_vae
from genlab.train.text2image import train
from genlab.world.dataset import export

from .test_text2image import TINY, tiny_config

# The pixel preset's choices at toy sizes: one autoencoder level, no mid attention,
# v-prediction, the first UNet level plain.
TINY_PIXEL = replace(
    TINY,
    vae_channels=(16,),
    latent_channels=4,
    vae_attention=False,
    unet_channels=(32, 32, 32),
    unet_plain_levels=2,
    prediction="v",
)


@pytest.fixture(scope="module")
def shapes_data(tmp_path_factory) -> Path:
    return export(tmp_path_factory.mktemp("shapes"), 24, 16, seed=3)


def test_pixel_preset_keeps_every_pixel_and_attends_only_below_32():
    arch = PRESETS["pixel"]
    assert arch.latent_size == arch.resolution == 64
    with torch.device("meta"):
        vae, unet = build_vae(arch), build_unet(arch)
    assert vae.encoder.mid_block.attentions[0] is None  # no 4096² attention
    assert unet.config.down_block_types == (
        "DownBlock2D",
        "DownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
    )
    # 64 → 32 → 16 → 8: attention on the 16 × 16 and 8 × 8 maps only.
    assert unet.config.block_out_channels == (32, 64, 128, 128)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("unet_plain_levels", 3, "unet_plain_levels"),  # no attention left for the text
        ("unet_plain_levels", 0, "unet_plain_levels"),
        ("prediction", "epsilon", "must be one of flow, v"),
        ("vae_attention", "yes", "must be true or false"),
    ],
)
def test_new_fields_are_checked(field, value, message):
    with pytest.raises(InvalidRequest, match=message):
        Architecture(**{**TINY.to_dict(), "unet_channels": (32, 32, 32), field: value})


def test_v_prediction_trains_a_pipeline_every_sampler_runs(shapes_data, tmp_path):
    from diffusers import StableDiffusionPipeline

    from genlab.engines.schedulers import accepted_samplers, make_scheduler, scheduler_config

    out = tmp_path / "model"
    train(tiny_config(architecture=TINY_PIXEL, sample_every=0), shapes_data, out)
    pipe = StableDiffusionPipeline.from_pretrained(str(out))
    config = pipe.scheduler.config
    assert config.prediction_type == "v_prediction" and config.rescale_betas_zero_snr
    assert pipe.vae.config.latent_channels == 4 and pipe.unet.config.sample_size == 16
    accepted = dict(accepted_samplers(scheduler_config(pipe.scheduler)))
    assert "Euler a" in accepted  # what A1111 clients send by default
    for sampler in accepted:
        pipe.scheduler = make_scheduler(scheduler_config(pipe.scheduler), sampler, "Automatic")
        generator = torch.Generator().manual_seed(0)
        image = pipe(
            "a red circle", num_inference_steps=3, height=16, width=16, generator=generator,
            output_type="np",
        ).images[0]  # fmt: skip
        assert image.shape == (16, 16, 3) and torch.isfinite(torch.from_numpy(image)).all(), sampler


def test_autoencoder_first_then_the_rest_equals_one_run(shapes_data, tmp_path):
    config = tiny_config(architecture=TINY_PIXEL, sample_every=0, steps=4)
    train(config, shapes_data, tmp_path / "whole")
    result = train(config, shapes_data, tmp_path / "parts", stop_after="autoencoder")
    assert (tmp_path / "parts" / "vae" / "config.json").is_file()
    assert not (tmp_path / "parts" / "unet").exists()  # no denoiser yet
    assert result.steps == 0
    second = train(config, shapes_data, tmp_path / "parts")
    assert second.resumed_from == "autoencoder step 2"
    from safetensors.torch import load_file

    for part in ("unet", "vae"):
        whole = load_file(tmp_path / "whole" / part / "diffusion_pytorch_model.safetensors")
        parts = load_file(tmp_path / "parts" / part / "diffusion_pytorch_model.safetensors")
        assert all(torch.equal(whole[k], parts[k]) for k in whole), part


def test_stop_after_names_a_stage():
    from genlab.train.text2image import Trainer

    with pytest.raises(InvalidRequest, match="stop_after"):
        Trainer(tiny_config(), Path("."), Path("."), stop_after="unet")


def test_a_copy_of_the_data_elsewhere_resumes_and_other_data_is_refused(shapes_data, tmp_path):
    """A run moves between machines with its data: what matters is the captions."""
    config = tiny_config(steps=2, sample_every=0)
    train(config, shapes_data, tmp_path / "run")
    copy = shutil.copytree(shapes_data, tmp_path / "elsewhere")
    resumed = train(replace(config, steps=4), copy, tmp_path / "run")
    assert resumed.resumed_from == "diffusion step 2"
    other = export(tmp_path / "other", 24, 16, seed=4)
    with pytest.raises(GenlabError, match="on other data"):
        train(replace(config, steps=6), other, tmp_path / "run")


def test_a_checkpoint_from_before_the_new_fields_still_resumes(shapes_data, tmp_path):
    config = tiny_config(steps=2, sample_every=0)
    train(config, shapes_data, tmp_path / "run")
    path = ckpt.folder(tmp_path / "run") / ckpt.NAME
    state = torch.load(path, weights_only=False)
    for key in ("unet_plain_levels", "vae_attention", "prediction"):
        del state["config"]["architecture"][key]  # as written before these existed
    del state["data_fingerprint"]  # and before fingerprints: the path decides
    del state["config"]["vae_noise"]
    torch.save(state, path)
    assert train(replace(config, steps=3), shapes_data, tmp_path / "run").resumed_from


def test_budget_steps_shortens_never_lengthens_and_never_undoes():
    from genlab.train.text2image import budget_steps

    assert budget_steps(50, 1000, 0.5, 100.0) == 250  # 200 more fit in 100 s
    assert budget_steps(50, 120, 0.5, 100.0) == 120  # the budget never adds steps
    assert budget_steps(50, 1000, 0.5, -5.0) == 50  # already over: stop where it is
    assert budget_steps(50, 1000, 0.0, 10.0) == 1000  # an unmeasurably fast step


def test_a_spent_budget_ends_the_run_after_the_timed_steps_with_a_saved_model(
    shapes_data, tmp_path
):
    from genlab.train.text2image import BUDGET_PROBE

    # A budget of a millionth of a minute is spent before the denoiser starts, so
    # the run stops once its speed is measured, whatever this machine's speed.
    config = tiny_config(architecture=TINY_PIXEL, sample_every=0, steps=80, minutes=1e-6)
    result = train(config, shapes_data, tmp_path / "model")
    assert result.steps == BUDGET_PROBE[1]
    record = json.loads((tmp_path / "model" / "training.json").read_text())
    assert record["config"]["steps"] == BUDGET_PROBE[1] and record["config"]["minutes"] == 1e-6
    assert (tmp_path / "model" / "unet" / "config.json").is_file()


@pytest.mark.parametrize("minutes", [0, -1, 2e6, float("nan")])
def test_a_budget_must_be_positive(minutes):
    with pytest.raises(InvalidRequest, match="minutes"):
        tiny_config(minutes=minutes)
