"""Where a training run computes, and in what precision.

Only the arithmetic moves: models, batches and noise go to the device, while every
random draw still comes from one CPU `torch.Generator`. That keeps a CPU run
bit-identical to one made before devices existed, and keeps a checkpoint's random
state portable (a run checkpointed on a GPU resumes on a CPU, and back).

bf16 is autocast on CUDA only: the weights, optimiser state and EMA stay fp32, so
saved pipelines are fp32 whatever trained them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from genlab.core.errors import InvalidRequest

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16")


def check_names(device: str, precision: str) -> None:
    """Spelling only; whether the device exists is `resolve_device`'s question."""
    if device not in DEVICES:
        raise InvalidRequest("device", device, f"must be one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise InvalidRequest("precision", precision, f"must be one of {', '.join(PRECISIONS)}")


def resolve_device(name: str, precision: str = "fp32") -> torch.device:
    """`auto` → cuda, else mps, else cpu; a named device that is absent is refused."""
    check_names(name, precision)
    cuda, mps = torch.cuda.is_available(), _mps_available()
    if name == "auto":
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


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast on CUDA, otherwise nothing (fp32 exactly as before)."""
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def describe(device: torch.device) -> str:
    """For training.json: which hardware did the arithmetic."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
