"""Decoder refinement: only the decoder learns, the pipeline still loads, runs resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from genlab.core.errors import GenlabError
from genlab.train.decoder import DecoderConfig, refine_decoder
from genlab.train.text2image import train
from tests.train.test_text2image import shapes_data, tiny_config  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def pipeline(shapes_data, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("pipeline") / "model"
    train(tiny_config(sample_every=0), shapes_data, out)
    return out


def copy_of(pipeline: Path, where: Path) -> Path:
    target = where / "model"
    shutil.copytree(pipeline, target, ignore=shutil.ignore_patterns("checkpoint"))
    return target


def vae_state(model: Path) -> dict[str, torch.Tensor]:
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(str(model / "vae")).state_dict()


def test_only_the_decoder_changes_and_the_pipeline_still_loads(pipeline, shapes_data, tmp_path):  # noqa: F811
    from diffusers import StableDiffusionPipeline

    model = copy_of(pipeline, tmp_path)
    before = vae_state(model)
    refine_decoder(model, shapes_data, DecoderConfig(steps=3, batch_size=4, lr=1e-2))
    after = vae_state(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "the decoder did not learn"
    assert all(k.startswith(("decoder.", "post_quant_conv.")) for k in changed)
    assert not (model / "checkpoint" / "decoder.pt").exists()
    record = json.loads((model / "training.json").read_text())["decoder_refinements"]
    assert record[-1]["config"]["steps"] == 3
    pipe = StableDiffusionPipeline.from_pretrained(str(model))
    assert pipe("a red circle", num_inference_steps=2, height=16, width=16).images[0].size == (
        16,
        16,
    )


def test_an_interrupted_refinement_resumes_to_the_same_weights(pipeline, shapes_data, tmp_path):  # noqa: F811
    config = DecoderConfig(steps=4, batch_size=4, lr=1e-2, checkpoint_every=2)
    whole = copy_of(pipeline, tmp_path / "whole")
    refine_decoder(whole, shapes_data, config)

    class Stop(Exception):
        pass

    def stop_at_three(info) -> None:
        if info.step == 3:
            raise Stop

    split = copy_of(pipeline, tmp_path / "split")
    with pytest.raises(Stop):
        refine_decoder(split, shapes_data, config, on_step=stop_at_three)
    assert (split / "checkpoint" / "decoder.pt").is_file()
    assert all(
        torch.equal(a, b) for a, b in zip(vae_state(split).values(), vae_state(pipeline).values())
    )
    refine_decoder(split, shapes_data, config)
    resumed = vae_state(split)
    for name, value in vae_state(whole).items():
        assert torch.allclose(value, resumed[name]), name


def test_bad_model_folder_and_settings_are_one_line_errors(shapes_data, tmp_path):  # noqa: F811
    with pytest.raises(GenlabError, match="not a pipeline folder"):
        refine_decoder(tmp_path, shapes_data, DecoderConfig(steps=1))
    with pytest.raises(GenlabError, match="steps"):
        DecoderConfig(steps=0)
    with pytest.raises(GenlabError, match="resolution"):
        DecoderConfig(resolution=30)
