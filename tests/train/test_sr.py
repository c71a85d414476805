from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from genlab.core.errors import InvalidRequest
from genlab.train.sr import StepInfo, TrainConfig, train
from genlab.upscale.data import HELD_OUT, TRAIN_PHOTOS, PatchSampler, train_pairs
from genlab.upscale.espcn import load_espcn
from genlab.upscale.loaders import load_upscaler

TINY = {"batch_size": 2, "patch": 8, "features": (4, 4), "checkpoint_every": 2}


def test_held_out_photos_never_feed_training():
    names = {pair.name.split("@")[0] for pair in train_pairs(2)}
    assert names == set(TRAIN_PHOTOS)
    assert not names & {*HELD_OUT, "cat"}


def test_patches_are_aligned_lr_hr():
    sampler = PatchSampler(train_pairs(2)[:3], 2, 8, "y", seed=0)
    lr, hr = sampler.batch(5)
    assert lr.shape == (5, 1, 8, 8) and hr.shape == (5, 1, 16, 16)
    # each LR pixel is close to the mean of its 2×2 HR block (antialiased downscale)
    blocks = hr.reshape(5, 1, 8, 2, 8, 2).mean(axis=(3, 5))
    assert abs(float((blocks - lr).mean())) < 0.01


def test_train_resume_matches_uninterrupted(tmp_path):
    full = train(TrainConfig(steps=4, **TINY), tmp_path / "full")

    def interrupt(info: StepInfo) -> None:
        if info.step == 3:  # one step past the checkpoint at 2, which is then lost
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(steps=4, **TINY), tmp_path / "split", on_step=interrupt)
    resumed = train(TrainConfig(steps=4, **TINY), tmp_path / "split")
    assert resumed.resumed_from == 2 and full.resumed_from == 0
    a, b = load_file(str(full.weights)), load_file(str(resumed.weights))
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    model = load_espcn(full.weights)
    assert model.config.features == (4, 4)
    log = json.loads((tmp_path / "full" / "train.json").read_text())
    assert log["step"] == 4
    # genlab's own weights load by file too, like any pretrained model
    assert load_upscaler(str(full.weights), 2).native_scale == 2


def test_resume_with_other_settings_is_refused(tmp_path):
    train(TrainConfig(steps=2, **TINY), tmp_path)
    with pytest.raises(InvalidRequest, match="different lr"):
        train(TrainConfig(steps=4, lr=5e-4, **TINY), tmp_path)


def test_bad_training_settings():
    with pytest.raises(InvalidRequest, match="scale=5"):
        TrainConfig(scale=5)
    with pytest.raises(InvalidRequest, match="steps=0"):
        TrainConfig(steps=0)
