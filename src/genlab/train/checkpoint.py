"""Training checkpoints: one file, replaced atomically, checked against the run's config.

A run killed at any moment leaves either the previous checkpoint or the new one, never
a torn file (write to a temporary name, fsync, rename). Resuming with a different
config or data folder would silently mix two runs, so it is refused instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from genlab.core.errors import GenlabError

NAME = "state.pt"
# Settings that may change between a run and its resumption without mixing two runs.
# The device and precision are among them: a run checkpointed on a GPU resumes on a CPU.
_RESUMABLE_CHANGES = (
    "checkpoint_every",
    "sample_every",
    "steps",
    "vae_steps",
    "batch_size",
    "device",
    "precision",
    "minutes",
)


def folder(out: Path) -> Path:
    return Path(out) / "checkpoint"


def atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_image(image, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)


def save(out: Path, state: dict[str, Any]) -> None:
    atomic_save(state, folder(out) / NAME)


def data_fingerprint(captions: list[str]) -> str:
    """Which data a run trains on, wherever the folder lies: its captions, in order.

    A path would tie a run to one machine; the captions move with the data, so a run
    checkpointed on one machine resumes on another that rendered the same folder."""
    return hashlib.sha256("\n".join(captions).encode("utf-8", "surrogatepass")).hexdigest()


def load(
    out: Path,
    config: dict[str, Any],
    data: Path,
    fingerprint: str | None = None,
    defaults: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The checkpoint in `out`, or None; refuses one from a different run.

    `defaults` (the config's defaults) stand in for settings added since the
    checkpoint was written: such a run used what is now the default."""
    path = folder(out) / NAME
    if not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as err:  # a checkpoint torn by something other than us
        raise GenlabError(
            f"checkpoint {path} is unreadable ({type(err).__name__}); "
            "delete it or train with --no-resume"
        ) from None
    defaults = defaults or {}
    saved = {**defaults, **state["config"]}
    if saved.get("architecture") is not None:
        saved["architecture"] = {**defaults.get("architecture", {}), **saved["architecture"]}
    _check_architecture(out, saved.get("architecture"), config.get("architecture"))
    old = {k: v for k, v in saved.items() if k not in _RESUMABLE_CHANGES}
    new = {k: v for k, v in config.items() if k not in _RESUMABLE_CHANGES}
    changed = sorted(k for k in new if old.get(k) != new[k])
    if changed:
        raise GenlabError(
            f"{out} holds a run with other settings ({', '.join(changed)}); "
            "use a new --out, the same settings, or --no-resume to start over"
        )
    same = (
        state["data_fingerprint"] == fingerprint
        if fingerprint is not None and state.get("data_fingerprint")
        else state["data"] == str(Path(data).resolve())
    )
    if not same:
        raise GenlabError(
            f"{out} holds a run on other data ({state['data']}); use a new --out or --no-resume"
        )
    return state


def _check_architecture(out: Path, old: dict | None, new: dict | None) -> None:
    """A checkpoint's weights only fit the architecture that wrote them: say which differs."""
    if old is None or new is None or old == new:
        return
    changed = [
        f"{key} {_show(old.get(key))} in the checkpoint, {_show(new.get(key))} now"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    raise GenlabError(
        f"{out} holds a run of another architecture ({'; '.join(changed)}); "
        "pass the run's own --arch, use a new --out, or --no-resume to start over"
    )


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def discard(out: Path) -> None:
    shutil.rmtree(folder(out), ignore_errors=True)
