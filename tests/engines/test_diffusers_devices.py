"""Device and dtype choice for the diffusers engine."""

from __future__ import annotations

import pytest
import torch

from genlab.core.errors import InvalidRequest
from genlab.devices import available_devices, pick_device, pick_dtype


def test_default_device_is_the_best_available() -> None:
    best = next(kind for kind in ("cuda", "mps", "cpu") if available_devices()[kind])
    assert pick_device(None) == best
    assert pick_device("cpu") == "cpu"
    assert pick_device(" CPU ") == "cpu"


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cpu:1", "mps:0"])
def test_malformed_device(device) -> None:
    with pytest.raises(InvalidRequest, match=r"^device=.*must be cuda, cuda:N, mps or cpu$"):
        pick_device(device)


def test_missing_device_names_the_available_ones() -> None:
    if torch.cuda.is_available():
        with pytest.raises(InvalidRequest, match="does not exist"):
            pick_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(InvalidRequest, match=r"not available here; available: .*cpu"):
            pick_device("cuda")


def test_dtypes() -> None:
    assert pick_dtype("cpu", None) is torch.float32
    assert pick_dtype("mps", None) is torch.float32
    assert pick_dtype("cuda", None) is torch.float16
    assert pick_dtype("cuda:1", "bf16") is torch.bfloat16
    assert pick_dtype("cpu", "bf16") is torch.bfloat16
    with pytest.raises(InvalidRequest, match=r"^dtype='fp16' .*not supported on cpu"):
        pick_dtype("cpu", "fp16")
    with pytest.raises(InvalidRequest, match=r"^dtype='fp8' .*one of fp16, bf16, fp32"):
        pick_dtype("cuda", "fp8")
