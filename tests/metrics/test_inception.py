"""The `inception` extractor with a randomly initialised FID Inception-v3 saved where the
real weights would be, and (marked `weights`) with the real file when it is on disk."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.core.errors import ModelLoadError
from genlab.metrics import inception
from genlab.metrics.features import get_extractor
from genlab.metrics.inception_net import FIDInceptionV3
from genlab.metrics.inception_score import inception_score

PYTORCH_FID, TORCH_FIDELITY = inception.WEIGHTS_FILES


def _random_state() -> dict[str, torch.Tensor]:
    """Every tensor of the network at random values, batch-norm statistics included, so
    a tensor that failed to load would change the features."""
    torch.manual_seed(0)
    state = FIDInceptionV3().state_dict()
    generator = torch.Generator().manual_seed(1)
    for key, value in state.items():
        if key.endswith(("running_mean", "bn.bias")):
            value.copy_(0.1 * torch.randn(value.shape, generator=generator))
        elif key.endswith(("running_var", "bn.weight")):
            value.copy_(1.0 + 0.5 * torch.rand(value.shape, generator=generator))
        elif key.startswith("fc."):
            value.copy_(0.05 * torch.randn(value.shape, generator=generator))
    return state


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return _random_state()


@pytest.fixture(scope="module")
def reference(state: dict[str, torch.Tensor]) -> FIDInceptionV3:
    net = FIDInceptionV3()
    net.load_state_dict(state)
    return net.eval()


@pytest.fixture()
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch cache; returns its checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def _images(sizes: tuple[int, ...] = (64, 48)) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (s, s, 3), dtype=np.uint8)) for s in sizes]


def _without_counters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # torch-fidelity's converted file has no batch-norm step counters.
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("name", [PYTORCH_FID, TORCH_FIDELITY])
def test_finds_each_standard_file_and_loads_every_tensor(name, state, reference, torch_home):
    saved = state if name == PYTORCH_FID else _without_counters(state)
    torch.save(saved, torch_home / name)
    extractor = inception.load(None, "cpu")
    assert extractor.path == torch_home / name
    assert (extractor.name, extractor.dim) == ("inception", 2048)
    images = _images()
    features = extractor.features(images, batch_size=1)
    assert features.shape == (2, 2048) and features.dtype == np.float64
    assert np.all(np.isfinite(features)) and features.std() > 0
    with torch.inference_mode():
        expected = reference(inception.preprocess(images)).double().numpy()
    np.testing.assert_array_equal(features, expected)  # all tensors, BN stats included
    np.testing.assert_array_equal(extractor.features(images), features)  # deterministic


def test_pytorch_fid_file_is_preferred_when_both_exist(state, torch_home):
    torch.save(state, torch_home / PYTORCH_FID)
    torch.save(_without_counters(state), torch_home / TORCH_FIDELITY)
    assert inception.load(None, "cpu").path == torch_home / PYTORCH_FID


def test_logits_are_pool3_times_classifier(state, tmp_path):
    path = tmp_path / "inception.safetensors"
    from safetensors.torch import save_file

    save_file(_without_counters(state), str(path))
    extractor = get_extractor("inception", weights=path)
    features, logits = extractor.features_and_logits(_images())
    assert logits.shape == (2, 1008) and logits.dtype == np.float64
    weight, bias = state["fc.weight"].double().numpy(), state["fc.bias"].double().numpy()
    np.testing.assert_allclose(logits, features @ weight.T, rtol=1e-5, atol=1e-6)
    with_bias = extractor.logits(_images(), bias=True)
    np.testing.assert_allclose(with_bias, features @ weight.T + bias, rtol=1e-5, atol=1e-6)
    # Identical images give identical predictions: the inception score's floor, 1.
    same = extractor.logits([_images()[0]] * 4)
    assert inception_score(same, splits=1)[0] == pytest.approx(1.0, abs=1e-9)


def test_explicit_weights_path_wins_over_the_cache(state, tmp_path, torch_home):
    torch.save(state, tmp_path / "my-inception.pth")
    extractor = inception.load(tmp_path / "my-inception.pth", "cpu")
    assert extractor.path == tmp_path / "my-inception.pth"


def test_absent_weights_name_every_searched_file_in_one_line(torch_home):
    with pytest.raises(ModelLoadError) as info:
        inception.load(None, "cpu")
    message = str(info.value)
    assert "\n" not in message
    assert PYTORCH_FID in message and TORCH_FIDELITY in message
    assert str(torch_home) in message and "--weights PATH" in message


def test_missing_explicit_file_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match=r"nowhere\.pth do not exist"):
        inception.load(tmp_path / "nowhere.pth", "cpu")


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda s: s.pop("Mixed_7c.branch_pool.bn.running_var"), "lack 1 of"),
        (lambda s: s.update({"AuxLogits.fc.weight": torch.zeros(1)}), "AuxLogits.fc.weight"),
        (lambda s: s.update({"fc.weight": torch.zeros(1000, 2048)}), r"fc.weight has shape"),
    ],
)
def test_incomplete_or_foreign_state_dicts_are_refused(state, tmp_path, change, complaint):
    broken = dict(state)
    change(broken)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ModelLoadError, match=complaint):
        inception.load(tmp_path / "broken.pth", "cpu")


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="cannot be read"):
        inception.load(tmp_path / "junk.pth", "cpu")


def test_preprocess_gives_299_px_in_minus_one_to_one():
    image = Image.new("RGB", (64, 40), (0, 128, 255))
    x = inception.preprocess([image, Image.new("L", (300, 310), 7)])
    assert x.shape == (2, 3, 299, 299) and x.dtype == torch.float32
    # 0 -> -1, 128 -> 0, 255 -> 127/128: the graph's (x - 128) / 128.
    assert torch.equal(x[0, :, 0, 0], torch.tensor([-1.0, 0.0, 127 / 128]))
    assert float(x.min()) >= -1.0 and float(x.max()) < 1.0


def test_resize_is_tensorflow1_bilinear_without_half_pixel_offset():
    x = torch.tensor([[[[0.0, 10.0]]]])  # (1, 1, 1, 2)
    out = inception.resize_bilinear_tf1(x, (1, 4))
    # Output i samples input position i * 2 / 4; torch's half-pixel rule would give
    # 0, 2.5, 7.5, 10 instead.
    assert out.flatten().tolist() == [0.0, 5.0, 10.0, 10.0]
    image = torch.rand(1, 3, 299, 299) * 255
    assert torch.equal(inception.resize_bilinear_tf1(image, (299, 299)), image)


def test_parameter_names_and_shapes_are_torchvisions_inception3_layout():
    # pytorch-fid saves torchvision's Inception3(num_classes=1008, aux_logits=False).
    models = pytest.importorskip("torchvision.models")
    theirs = models.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    ours = FIDInceptionV3()
    expected = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == expected


def _real_weights() -> Path | None:
    return next((p for p in inception.standard_weight_paths() if p.is_file()), None)


@pytest.mark.weights
@pytest.mark.skipif(_real_weights() is None, reason="FID Inception weights are not on disk")
def test_real_network_on_shapes_world_images():
    from genlab.world.render import render
    from genlab.world.scene import random_scene

    extractor = inception.load(None, "cpu")
    images = [render(random_scene(random.Random(i)), 64, 64) for i in range(6)]
    features, logits = extractor.features_and_logits(images)
    assert np.all(np.isfinite(features)) and features.min() >= 0  # pool3 follows a ReLU
    same = extractor.logits([images[0]] * 6)
    assert inception_score(same, splits=1)[0] == pytest.approx(1.0, abs=1e-6)
    assert inception_score(logits, splits=1)[0] > 1.0
