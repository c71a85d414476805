"""The GAN trainer end to end at toy sizes: its folder loads in the engine, the collapse
watch is logged, an interrupted run resumes to the very weights of an unbroken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genlab.core.errors import GenlabError
from genlab.engines.gan import GanEngine
from genlab.train.gan import GanTrainConfig, train
from genlab.train.gan_disc import Discriminator, diff_augment
from genlab.world.dataset import export


@pytest.fixture(scope="module")
def shapes_data(tmp_path_factory) -> Path:
    return export(tmp_path_factory.mktemp("shapes"), 28, 16, seed=5)


def tiny(**overrides) -> GanTrainConfig:
    settings = dict(
        steps=4,
        batch_size=4,
        resolution=16,
        channels=(32, 16, 8),
        d_channels=(8, 16),
        holdout=16,
        r1_every=2,
        sample_every=4,
        checkpoint_every=2,
        watch_every=2,
    )
    settings.update(overrides)
    return GanTrainConfig(**settings)


def test_trained_folder_loads_in_the_engine_and_logs_the_watch(shapes_data, tmp_path):
    from genlab.core.request import GenerationRequest

    out = tmp_path / "gan"
    result = train(tiny(), shapes_data, out)
    assert result.steps == 4 and result.images == 12 and result.resumed_from is None
    assert [p.name for p in result.samples] == ["step-000004.png"]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    watched = [r for r in rows if "recall" in r]
    assert [r["step"] for r in watched] == [2, 4]
    for row in watched:
        assert 0.0 <= row["recall"] <= 1.0 and 0.0 <= row["precision"] <= 1.0
        assert row["diversity"] >= 0.0
    training = json.loads((out / "training.json").read_text())
    assert {"load_data", "watch", "train"} <= set(training["minutes"])
    assert training["held_out"] == 16 and training["data"] == shapes_data.name

    engine = GanEngine(out)
    image = engine.generate(GenerationRequest("a red circle", seed=1)).images[0]
    assert image.size == (16, 16)


def test_an_interrupted_run_resumes_to_the_same_weights(shapes_data, tmp_path):
    whole = tmp_path / "whole"
    train(tiny(), shapes_data, whole)
    broken = tmp_path / "broken"
    train(tiny(steps=2), shapes_data, broken)
    resumed = train(tiny(), shapes_data, broken)
    assert resumed.resumed_from == 2 and resumed.steps == 4
    from safetensors.torch import load_file

    a = load_file(str(whole / "model.safetensors"))
    b = load_file(str(broken / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


def test_resuming_with_other_settings_is_refused(shapes_data, tmp_path):
    train(tiny(steps=2), shapes_data, tmp_path / "run")
    with pytest.raises(GenlabError, match="other settings"):
        train(tiny(lr_g=1e-3), shapes_data, tmp_path / "run")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(augment=("colour",)), "augment 'colour'"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(channels=(32, 16)), "not the resolution 16"),
        (dict(holdout=4), "holdout must be at least 16"),
        (dict(minutes=0), "minutes must be positive"),
    ],
)
def test_bad_settings_fail_in_one_line(overrides, message):
    with pytest.raises((GenlabError, ValueError), match=message):
        tiny(**overrides)


def test_too_few_images_for_holdout_and_a_batch(shapes_data, tmp_path):
    with pytest.raises(GenlabError, match="at least 36"):
        train(tiny(holdout=32), shapes_data, tmp_path / "run")


def test_diff_augment_is_seeded_differentiable_and_keeps_shapes():
    x = torch.randn(3, 3, 16, 16, requires_grad=True)
    policy = ("translation", "cutout")
    a = diff_augment(x, policy, torch.Generator().manual_seed(0))
    b = diff_augment(x, policy, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # Cutout zeroes a square of a quarter side (4x4 = 16 pixels) at most per image.
    ones = diff_augment(torch.ones(8, 1, 16, 16), ("cutout",), torch.Generator().manual_seed(1))
    zeros = (ones == 0).sum(dim=(1, 2, 3))
    assert (zeros > 0).all() and (zeros <= 16).all()


def test_translation_moves_content_and_pads_with_zeros():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    out = diff_augment(x, ("translation",), torch.Generator().manual_seed(2))
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(64))  # the dot moves, stays
    moved = (out[:, 0, 8, 8] == 0).sum()
    assert moved > 32  # shifts of up to 2 pixels each way: most images move the dot


def test_projection_discriminator_scores_depend_on_the_caption():
    torch.manual_seed(0)
    # eval: spectral norm stops its power iteration, so two passes see the same weights
    d = Discriminator(vocab_size=10, max_words=6, channels=(8, 16)).eval()
    x = torch.randn(2, 3, 16, 16)
    ids_a = torch.tensor([[2, 3, 0, 0, 0, 0]] * 2)
    ids_b = torch.tensor([[4, 5, 6, 0, 0, 0]] * 2)
    h = d.trunk(x)
    assert h.shape == (2, 16)
    assert not torch.allclose(d.score(h, ids_a), d.score(h, ids_b))
    torch.testing.assert_close(d(x, ids_a), d.score(h, ids_a))
