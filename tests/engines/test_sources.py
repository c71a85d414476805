"""Model sources: every bad source gives one line; names and A1111 short hashes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from genlab.core.errors import ModelLoadError
from genlab.core.request import LoadOptions
from genlab.engines.diffusers_engine import DiffusersEngine
from genlab.engines.sources import (
    describe_source,
    file_sha256,
    hash_cache_file,
    resolve_source,
    short_hash,
)


@pytest.fixture(autouse=True)
def _offline_and_private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def safetensors_file(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.arange(6, dtype=torch.float32)}, str(path))
    return path


def bad_sources(tmp: Path) -> list[tuple[str, LoadOptions, str]]:
    """(model, options, expected message) for every way a source can be wrong."""
    (tmp / "empty").mkdir()
    (tmp / "unet-only").mkdir()
    (tmp / "unet-only" / "config.json").write_text('{"_class_name": "UNet2DConditionModel"}')
    (tmp / "malformed").mkdir()
    (tmp / "malformed" / "model_index.json").write_text("{not json")
    (tmp / "not-a-pipeline").mkdir()
    (tmp / "not-a-pipeline" / "model_index.json").write_text('{"_class_name": "UNet2D"}')
    (tmp / "notes.txt").write_text("hello")
    (tmp / "model.ckpt").write_bytes(b"\x80\x04")
    (tmp / "garbage.safetensors").write_bytes(b"\xff" * 64)
    (tmp / "empty.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    checkpoint = safetensors_file(tmp / "real.safetensors")
    return [
        (str(tmp / "missing"), LoadOptions(), "not found: not a folder, a checkpoint file"),
        ("nobody-here/no-such-model", LoadOptions(), "not in the Hugging Face cache"),
        (str(tmp / "empty"), LoadOptions(), "not a diffusers pipeline folder"),
        (str(tmp / "unet-only"), LoadOptions(), "single diffusers model .*not a pipeline"),
        (str(tmp / "malformed"), LoadOptions(), "model_index.json is malformed"),
        (str(tmp / "not-a-pipeline"), LoadOptions(), "does not describe a pipeline"),
        (str(tmp / "notes.txt"), LoadOptions(), "is not a checkpoint: expected .safetensors"),
        (str(tmp / "model.ckpt"), LoadOptions(), "is a pickle.*pass --allow-pickle only if"),
        (str(tmp / "garbage.safetensors"), LoadOptions(), "not a valid .safetensors file"),
        (str(tmp / "empty.safetensors"), LoadOptions(), "holds no tensors"),
        (str(checkpoint), LoadOptions(), "offline it needs .*pass --config FOLDER"),
    ]


def test_every_bad_source_is_one_line(tmp_path) -> None:
    for model, options, message in bad_sources(tmp_path):
        with pytest.raises(ModelLoadError, match=message) as caught:
            DiffusersEngine(model, options)
        assert "\n" not in str(caught.value), model


def test_pipeline_folder_with_broken_component_is_one_line(tiny_sd_dir, tmp_path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_sd_dir, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(ModelLoadError, match=f"^cannot load {broken}") as caught:
        DiffusersEngine(str(broken))
    assert "\n" not in str(caught.value)


def test_checkpoint_that_is_not_sd_is_one_line(tiny_sd_dir, tmp_path) -> None:
    checkpoint = safetensors_file(tmp_path / "real.safetensors")
    with pytest.raises(ModelLoadError, match=f"^cannot load {checkpoint}") as caught:
        DiffusersEngine(str(checkpoint), LoadOptions(config=str(tiny_sd_dir)))
    assert "\n" not in str(caught.value)


def test_names_are_folder_name_file_stem_or_hub_id(tiny_sd_dir, tmp_path) -> None:
    checkpoint = safetensors_file(tmp_path / "my-model_v2.safetensors")
    assert resolve_source(str(tiny_sd_dir)).name == tiny_sd_dir.name
    file_source = resolve_source(str(checkpoint), LoadOptions(config=str(tiny_sd_dir)))
    assert (file_source.kind, file_source.name) == ("file", "my-model_v2")
    pickle = tmp_path / "old.ckpt"
    pickle.write_bytes(b"\x80\x04")
    assert resolve_source(str(pickle), LoadOptions(allow_pickle=True, config="x")).name == "old"
    hub = resolve_source("someone/some-model")
    assert (hub.kind, hub.name) == ("hub", "someone/some-model")


def test_file_hash_is_the_sha256_prefix_and_is_cached(tmp_path) -> None:
    checkpoint = safetensors_file(tmp_path / "model.safetensors")
    expected = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert short_hash(checkpoint) == expected[:10]
    assert hash_cache_file() == tmp_path / "xdg-cache" / "genlab" / "hashes.json"
    cache = json.loads(hash_cache_file().read_text())
    key = next(k for k in cache if k.startswith(str(checkpoint.resolve())))
    assert cache[key] == expected
    # A cached value is trusted while size and mtime match, so big files are read once...
    cache[key] = "f" * 64
    hash_cache_file().write_text(json.dumps(cache))
    assert file_sha256(checkpoint) == "f" * 64
    # ...and a touched file is hashed again.
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert file_sha256(checkpoint) == expected


def test_folder_hash_follows_the_weights_not_the_place(tiny_sd_dir, tmp_path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(tiny_sd_dir, copy)
    assert short_hash(copy) == short_hash(tiny_sd_dir)
    (copy / "scheduler" / "scheduler_config.json").write_text("{}")  # configs do not count
    assert short_hash(copy) == short_hash(tiny_sd_dir)
    weights = next((copy / "unet").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert short_hash(copy) != short_hash(tiny_sd_dir)


def test_unwritable_hash_cache_does_not_break_hashing(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    checkpoint = safetensors_file(tmp_path / "model.safetensors")
    assert short_hash(checkpoint) == hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]


def test_describe_source(tiny_sd_dir, tmp_path) -> None:
    checkpoint = safetensors_file(tmp_path / "model.safetensors")
    pickle = tmp_path / "old.ckpt"
    pickle.write_bytes(b"\x80\x04")
    assert describe_source(str(tiny_sd_dir)).startswith(
        "diffusers folder, StableDiffusionPipeline (scheduler, text_encoder, tokenizer, unet, vae"
    )
    assert describe_source(str(checkpoint)).startswith("single checkpoint file, safetensors")
    assert "needs --allow-pickle" in describe_source(str(pickle))
    assert describe_source("nobody-here/no-such-model") == "hub id, not in the local cache"
    assert describe_source(str(tmp_path)).startswith("not usable: ")
    assert describe_source(str(tmp_path / "missing")).startswith("not found")
