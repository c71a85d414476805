"""Device and dtype choice: CUDA → fp16, Apple MPS → fp16, otherwise CPU fp32."""

from __future__ import annotations

from genlab.core.errors import InvalidRequest

DTYPES = ("fp16", "bf16", "fp32")


def pick_device(requested: str | None) -> str:
    import torch

    available = {"cpu": True, "cuda": torch.cuda.is_available()}
    mps = getattr(torch.backends, "mps", None)
    available["mps"] = bool(mps and mps.is_available())
    if requested is None:
        return next(d for d in ("cuda", "mps", "cpu") if available[d])
    kind = requested.split(":")[0]
    if kind not in available:
        raise InvalidRequest("device", requested, "must be cuda, cuda:N, mps or cpu")
    if not available[kind]:
        usable = ", ".join(d for d, ok in available.items() if ok)
        raise InvalidRequest("device", requested, f"is not available here; available: {usable}")
    return requested


def pick_dtype(device: str, requested: str | None):
    import torch

    if requested is None:
        requested = "fp32" if device == "cpu" else "fp16"
    if requested not in DTYPES:
        raise InvalidRequest("dtype", requested, f"must be one of {', '.join(DTYPES)}")
    if requested == "fp16" and device == "cpu":
        # Half-precision convolutions are missing or very slow on CPUs.
        raise InvalidRequest("dtype", requested, "is not supported on cpu; use fp32 or bf16")
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[requested]
