"""LoRA files on the diffusers engine: a real tiny LoRA made with peft for the tiny UNet."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab import GenerationRequest
from genlab.core.errors import ModelLoadError
from genlab.engines.diffusers_engine import DiffusersEngine
from genlab.engines.lora import lora_hash
from tests.lora_file import write_tiny_lora


@pytest.fixture(scope="module", autouse=True)
def _flush_denormals():
    """Random tiny networks produce subnormal floats that slow CPU matmuls ~100x."""
    import torch

    # Flushing is per thread, so the tiny model runs on this thread only.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine(tiny_sd_dir: Path) -> DiffusersEngine:
    return DiffusersEngine(str(tiny_sd_dir))


@pytest.fixture(scope="module")
def lora(tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_lora(tiny_sd_dir, tmp_path_factory.mktemp("lora") / "style.safetensors")


def run(engine: DiffusersEngine, *loras: str) -> np.ndarray:
    request = GenerationRequest("a red circle", seed=1, steps=2, loras=loras)
    result = engine.generate(request)
    return np.asarray(result.images[0], dtype=np.int16), result.extra_params


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_lora_changes_output_and_weight_scales_it(engine, lora) -> None:
    base, base_extra = run(engine)
    full, extra = run(engine, f"{lora}:1.0")
    part, _ = run(engine, f"{lora}:0.8")
    zero, _ = run(engine, f"{lora}:0")
    again, _ = run(engine, f"{lora}:1.0")
    after, _ = run(engine)
    assert np.abs(full - base).max() > 5  # the LoRA really changes the image
    assert not np.array_equal(part, full)
    assert np.abs(zero - base).max() <= 1  # weight 0 is no LoRA, up to rounding
    assert np.array_equal(again, full)  # going back reuses the loaded adapter
    assert np.array_equal(after, base)  # a request without LoRAs switches them off
    assert "Lora hashes" not in base_extra
    assert extra["Lora hashes"] == f"style: {lora_hash(lora)}"
    assert list(engine.loras._adapters.values()) == ["lora_0"]  # loaded once


def test_lora_hash_is_a1111s_tensor_hash(lora) -> None:
    data = lora.read_bytes()
    header = int.from_bytes(data[:8], "little")
    assert lora_hash(lora) == hashlib.sha256(data[8 + header :]).hexdigest()[:12]


def test_two_loras_are_named_in_order(engine, lora, tmp_path, tiny_sd_dir) -> None:
    other = write_tiny_lora(tiny_sd_dir, tmp_path / "other.safetensors", seed=1)
    _, extra = run(engine, f"{lora}:0.5", f"{other}:0.5")
    assert extra["Lora hashes"] == f"style: {lora_hash(lora)}, other: {lora_hash(other)}"


def test_bad_lora_files(engine, tmp_path) -> None:
    import torch
    from safetensors.torch import save_file

    pickle, text = tmp_path / "x.pt", tmp_path / "notes.txt"
    pickle.write_bytes(b"\x80\x04")
    text.write_text("hello")
    no_lora = tmp_path / "plain.safetensors"
    save_file({"foo.weight": torch.zeros(2, 2)}, str(no_lora))
    half = tmp_path / "half.safetensors"  # lora_A without its lora_B
    save_file({"unet.nowhere.lora_A.weight": torch.ones(2, 8)}, str(half))
    foreign = tmp_path / "foreign.safetensors"  # a whole LoRA for layers this UNet lacks
    save_file(
        {
            "unet.nowhere.lora_A.weight": torch.ones(2, 8),
            "unet.nowhere.lora_B.weight": torch.ones(8, 2),
        },
        str(foreign),
    )
    cases = [
        (tmp_path / "none.safetensors", "does not exist"),
        (pickle, "is a pickle, .* --allow-pickle"),
        (text, "is not a .safetensors file"),
        (no_lora, "is not a LoRA this model accepts: Invalid LoRA checkpoint"),
        (half, "is not a LoRA this model accepts"),
        (foreign, "(has no LoRA weights for this model's layers|is not a LoRA this model)"),
    ]
    for path, message in cases:
        with pytest.raises(ModelLoadError, match=message) as caught:
            run(engine, str(path))
        assert "\n" not in str(caught.value)
    # The engine still works, with and without a good LoRA, after the failures.
    base, _ = run(engine)
    assert base.shape == (16, 16, 3)
