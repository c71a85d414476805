"""Which device computes, in what precision: one vocabulary for the whole package.

A device is named "cuda", "cuda:N", "mps" or "cpu"; "auto" (or no name) is the best
one here: CUDA, else Apple MPS, else the CPU. Engines, metrics, upscalers, style
transfer and training all resolve names here.

Inference dtypes: CUDA → fp16; Apple MPS and CPU → fp32.

fp16 halves memory and is what CUDA tensor cores are fast at. MPS gets fp32 by
default because some SD VAEs overflow to black images in fp16 there; `--dtype fp16`
still asks for it. On a CPU, fp16 convolutions are missing or very slow, so asking
for it is an error rather than a silent switch.

Training: only the arithmetic moves to the device, while every random draw still
comes from one CPU `torch.Generator`, so a CPU run stays bit-identical and a
checkpoint's random state is portable. bf16 is autocast on CUDA only: weights,
optimiser state and EMA stay fp32, so saved pipelines are fp32 whatever trained them.
torch loads only inside these functions: importing this module is cheap.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from genlab.core.errors import InvalidRequest

DTYPES = ("fp16", "bf16", "fp32")
DEVICE_KINDS = ("cuda", "mps", "cpu")
AUTO = "auto"
# Training's names: a kind, or auto (a trainer runs on one device of a kind).
TRAIN_DEVICES = (AUTO, "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16")


def available_devices() -> dict[str, bool]:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return {
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps and mps.is_available()),
        "cpu": True,
    }


def pick_device(requested: str | None) -> str:
    """`requested` ("cuda", "cuda:1", "mps", "cpu") if usable here; None or "auto": the
    best one."""
    import torch

    available = available_devices()
    if requested is None or requested.strip().lower() == AUTO:
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


def torch_device(requested: str | None) -> Any:
    """pick_device's choice as a `torch.device`."""
    import torch

    return torch.device(pick_device(requested))


# -- training ------------------------------------------------------------------------


def check_names(device: str, precision: str) -> None:
    """Spelling only; whether the device exists is `resolve_device`'s question."""
    if device not in TRAIN_DEVICES:
        raise InvalidRequest("device", device, f"must be one of {', '.join(TRAIN_DEVICES)}")
    if precision not in PRECISIONS:
        raise InvalidRequest("precision", precision, f"must be one of {', '.join(PRECISIONS)}")


def resolve_device(name: str, precision: str = "fp32") -> Any:
    """A training device: `auto` → cuda, else mps, else cpu; a named device that is
    absent is refused, and bf16 needs CUDA."""
    import torch

    check_names(name, precision)
    available = available_devices()
    cuda, mps = available["cuda"], available["mps"]
    if name == AUTO:
        name = "cuda" if cuda else "mps" if mps else "cpu"
    elif name == "cuda" and not cuda:
        built = "built without CUDA" if torch.version.cuda is None else "no CUDA device visible"
        raise InvalidRequest(
            "device",
            "cuda",
            f"CUDA is not available here (torch {torch.__version__}, "
            f"{built}); use --device cpu or auto",
        )
    elif name == "mps" and not mps:
        raise InvalidRequest("device", "mps", "Apple MPS is not available here; use cpu or auto")
    if precision == "bf16" and name != "cuda":
        raise InvalidRequest(
            "precision", precision, f"bf16 needs a CUDA device (this run is on {name}); use fp32"
        )
    return torch.device(name)


def autocast(device: Any, precision: str) -> AbstractContextManager:
    """bf16 autocast on CUDA, otherwise nothing (fp32 exactly as before)."""
    if precision == "bf16" and device.type == "cuda":
        import torch

        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def describe(device: Any) -> str:
    """For training.json: which hardware did the arithmetic."""
    if device.type == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
