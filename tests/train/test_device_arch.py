"""`--arch` and `--device` for the trainers: TOML architectures and presets, CPU runs
unchanged by naming the device, checkpoints that resume across devices, and one-line
refusals (unknown keys, bad sizes, absent devices, another run's architecture)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.devices import resolve_device
from genlab.train.components import PRESETS, Architecture, load_architecture
from genlab.train.text2image import TrainConfig, train
from tests.train.test_text2image import TINY, shapes_data, tiny_config  # noqa: F401 (fixture)

app = typer.Typer()
runner = CliRunner()


def _register() -> None:
    from genlab.cli.train import decoder, text2image

    app.command("text2image")(text2image)
    app.command("decoder")(decoder)


_register()

TINY_TOML = """\
resolution = 16
max_tokens = 24
text_width = 32
text_layers = 1
text_heads = 2
unet_channels = [32, 32]
unet_heads = 2
vae_channels = [16, 16]
"""
FAST = ["--steps", "3", "--vae-steps", "2", "--batch-size", "4", "--vae-batch-size", "4"]
FAST += ["--vae-crop", "8", "--sample-every", "0", "--checkpoint-every", "2"]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def weights(model: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    found = {}
    for path in sorted(model.glob("*/*.safetensors")):
        found.update({f"{path.parent.name}.{k}": v for k, v in load_file(path).items()})
    return found


@pytest.fixture
def tiny_toml(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


# -- architectures -------------------------------------------------------------------
def test_a_toml_file_sets_some_fields_and_the_rest_stay_small(tmp_path, tiny_toml):
    assert load_architecture(tiny_toml) == TINY
    partial = tmp_path / "partial.toml"
    partial.write_text("vae_channels = [64, 128, 128]\nlatent_channels = 4\n")
    arch = load_architecture(partial)
    assert arch.vae_channels == (64, 128, 128) and arch.latent_channels == 4
    assert arch.unet_channels == Architecture().unet_channels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unet_chanels = [64, 128]", "arch='unet_chanels' is invalid: unknown key; allowed keys: "),
        ("unet_channels = [60, 120]", "unet_channels=[60, 120] is invalid: must be a list of 2"),
        ("unet_channels = [64]", "must be a list of 2 to 5 channel counts"),
        ("vae_channels = [24, 48]", "each a multiple of 16"),
        ("text_layers = 0", "text_layers=0 is invalid: must be an integer from 1 to 48"),
        ("resolution = true", "resolution=True is invalid"),
        ("resolution = '64'", "resolution='64' is invalid"),
        ("resolution = 72", "must be a multiple of 16 for 3 autoencoder and 3 UNet levels"),
        ("text_width = 130", "text_width=130 is invalid: must be a multiple of text_heads (4)"),
        ("unet_heads = 3", "unet_heads=3 is invalid: must divide every level"),
        ("resolution = ", "is invalid: is not a TOML file (Invalid value"),
    ],
)
def test_bad_toml_is_refused_in_one_line_naming_the_key(tmp_path, text, message):
    path = tmp_path / "arch.toml"
    path.write_text(text + "\n")
    with pytest.raises(InvalidRequest) as caught:
        load_architecture(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_preset_or_missing_file_is_refused():
    with pytest.raises(InvalidRequest, match="must be one of small, large, pixel, or a TOML file"):
        load_architecture("huge")


def test_presets_small_is_the_shipped_model_and_large_fits_40_mb():
    assert load_architecture("small") == Architecture() == PRESETS["small"]
    small, large = (sum(PRESETS[n].parameter_counts().values()) for n in ("small", "large"))
    assert small == 8_616_723  # the shipped model's count (tokenizer of 1,073 tokens)
    assert large > small
    # fp32 safetensors: 4 bytes a weight, plus ~0.3 MB of tokenizer and configs.
    assert large * 4 + 300_000 <= 40_000_000
    assert load_architecture("large").latent_size == Architecture().latent_size


# -- devices -------------------------------------------------------------------------
def test_cpu_named_explicitly_trains_the_same_weights_as_the_default(
    shapes_data,  # noqa: F811
    tiny_toml,
    tmp_path,
):
    default = invoke(
        "text2image", "-d", shapes_data, "-o", tmp_path / "a", "--arch", tiny_toml, *FAST
    )
    assert default.exit_code == 0, default.output
    assert "on cpu" in default.output
    named = invoke(
        "text2image", "-d", shapes_data, "-o", tmp_path / "b", "--arch", tiny_toml, *FAST,
        "--device", "cpu", "--precision", "fp32",
    )  # fmt: skip
    assert named.exit_code == 0, named.output
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert len(a) > 100 and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) and a[k].dtype == torch.float32 for k in a)


@pytest.mark.parametrize("command", ["text2image", "decoder"])
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_is_refused_in_one_line_when_absent(command, shapes_data, tmp_path):  # noqa: F811
    where = ["-o", tmp_path / "out"] if command == "text2image" else ["-m", tmp_path]
    result = invoke(command, "-d", shapes_data, *where, "--device", "cuda")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "device='cuda' is invalid: CUDA is not available" in lines[0]
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.skipif(resolve_device("auto").type == "mps", reason="this machine has MPS")
def test_mps_is_refused_in_one_line_when_absent(shapes_data, tmp_path):  # noqa: F811
    result = invoke("text2image", "-d", shapes_data, "-o", tmp_path, "--device", "mps")
    assert result.exit_code == 2
    assert "device='mps' is invalid: Apple MPS is not available" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto picks CUDA here")
def test_bf16_needs_cuda_and_unknown_names_are_refused(shapes_data, tmp_path):  # noqa: F811
    result = invoke("text2image", "-d", shapes_data, "-o", tmp_path, "--precision", "bf16")
    assert result.exit_code == 2 and "bf16 needs a CUDA device" in result.stderr
    with pytest.raises(InvalidRequest, match="device='tpu' is invalid: must be one of auto"):
        TrainConfig(device="tpu")
    with pytest.raises(InvalidRequest, match="precision='fp16' is invalid: must be one of fp32"):
        TrainConfig(precision="fp16")


# -- architecture and runs -----------------------------------------------------------
def test_resuming_with_another_architecture_is_refused_naming_the_fields(
    shapes_data,  # noqa: F811
    tmp_path,
):
    train(tiny_config(steps=2, sample_every=0), shapes_data, tmp_path)
    wider = Architecture(**{**TINY.to_dict(), "unet_channels": (32, 64), "text_layers": 2})
    with pytest.raises(GenlabError) as caught:
        train(tiny_config(steps=3, sample_every=0, architecture=wider), shapes_data, tmp_path)
    message = str(caught.value)
    assert "holds a run of another architecture" in message and "\n" not in message
    assert "text_layers 1 in the checkpoint, 2 now" in message
    assert "unet_channels [32, 32] in the checkpoint, [32, 64] now" in message


def test_arch_is_for_training_from_scratch_only(tiny_sd_dir):
    with pytest.raises(InvalidRequest, match="arch='custom' is invalid: is for training from"):
        TrainConfig(init=str(tiny_sd_dir), train="unet", architecture=PRESETS["large"])
