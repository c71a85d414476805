"""Device and dtype choice: CUDA → fp16; Apple MPS and CPU → fp32.

fp16 halves memory and is what CUDA tensor cores are fast at. MPS gets fp32 by
default because some SD VAEs overflow to black images in fp16 there; `--dtype fp16`
still asks for it. On a CPU, fp16 convolutions are missing or very slow, so asking
for it is an error rather than a silent switch.
"""

from __future__ import annotations

from typing import Any

from genlab.core.errors import InvalidRequest

DTYPES = ("fp16", "bf16", "fp32")
DEVICE_KINDS = ("cuda", "mps", "cpu")


def available_devices() -> dict[str, bool]:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return {
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps and mps.is_available()),
        "cpu": True,
    }


def pick_device(requested: str | None) -> str:
    """`requested` ("cuda", "cuda:1", "mps", "cpu") if usable here; None: the best one."""
    import torch

    available = available_devices()
    if requested is None:
        return next(kind for kind in DEVICE_KINDS if available[kind])
    kind, _, index = requested.strip().lower().partition(":")
    if kind not in available or (index and (kind != "cuda" or not index.isdigit())):
        raise InvalidRequest("device", requested, "must be cuda, cuda:N, mps or cpu")
    usable = ", ".join(k for k in DEVICE_KINDS if available[k])
    if not available[kind]:
        raise InvalidRequest("device", requested, f"is not available here; available: {usable}")
    if index and int(index) >= torch.cuda.device_count():
        raise InvalidRequest(
            "device",
            requested,
            f"does not exist; this machine has cuda:0..cuda:{torch.cuda.device_count() - 1}",
        )
    return f"{kind}:{index}" if index else kind


def pick_dtype(device: str, requested: str | None) -> Any:
    """The torch dtype for `device`: `requested` ("fp16", "bf16", "fp32") or the default."""
    import torch

    if requested is None:
        requested = "fp16" if device.startswith("cuda") else "fp32"
    requested = requested.strip().lower()
    if requested not in DTYPES:
        raise InvalidRequest("dtype", requested, f"must be one of {', '.join(DTYPES)}")
    if requested == "fp16" and device == "cpu":
        raise InvalidRequest("dtype", requested, "is not supported on cpu; use fp32 or bf16")
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[requested]
