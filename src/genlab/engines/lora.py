"""LoRA files on a loaded pipeline (diffusers' peft backend).

Each distinct file is loaded once as its own named adapter and kept; a request then
activates exactly its LoRAs with their weights (`set_adapters`), and a request
without LoRAs switches them all off. So requests with different LoRAs share one
loaded pipeline, and going back to an earlier LoRA costs nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from genlab.core.errors import ModelLoadError
from genlab.core.request import LoraSpec
from genlab.engines.sources import PICKLE_SUFFIXES, SAFE_SUFFIXES, file_sha256

log = logging.getLogger(__name__)

# A1111 shows LoRA hashes with 12 hex digits (model hashes have 10).
LORA_HASH_LENGTH = 12


def lora_hash(path: Path) -> str:
    """A1111's short LoRA hash: sha256 of the tensor bytes of a .safetensors file
    (its header excluded), of the whole file otherwise."""
    tensors_only = path.suffix.lower() in SAFE_SUFFIXES
    return file_sha256(path, tensors_only=tensors_only)[:LORA_HASH_LENGTH]


def lora_hashes(loras: tuple[LoraSpec, ...]) -> dict[str, str]:
    """A1111's "Lora hashes" infotext entry ("name: hash, name2: hash"), or {}."""
    if not loras:
        return {}
    # A1111 names a LoRA by its file stem, the name used in `<lora:name:weight>`.
    text = ", ".join(f"{Path(lora.path).stem}: {lora_hash(Path(lora.path))}" for lora in loras)
    return {"Lora hashes": text}


class LoraSet:
    """The LoRA adapters loaded into one pipeline, and which of them are active."""

    def __init__(self, pipe: Any, *, allow_pickle: bool = False):
        self.pipe = pipe
        self.allow_pickle = allow_pickle
        self._adapters: dict[Path, str] = {}  # resolved file → adapter name
        self._loaded = 0  # adapter names are never reused, even after a failed load
        self._active: tuple[LoraSpec, ...] = ()

    def apply(self, loras: tuple[LoraSpec, ...]) -> dict[str, str]:
        """Activate exactly `loras` (and nothing else); returns the "Lora hashes" entry."""
        if loras != self._active:
            names = [self._load(Path(lora.path)) for lora in loras]
            if names:
                self.pipe.enable_lora()
                self.pipe.set_adapters(names, adapter_weights=[lora.weight for lora in loras])
            elif self._adapters:
                self.pipe.disable_lora()
            self._active = loras
        return lora_hashes(loras)

    def _load(self, path: Path) -> str:
        path = path.expanduser().resolve()
        if path in self._adapters:
            return self._adapters[path]
        if not path.is_file():
            raise ModelLoadError(f"LoRA file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES and not self.allow_pickle:
            raise ModelLoadError(
                f"LoRA {path} is a pickle, which can run code when loaded; "
                "pass --allow-pickle only if you trust it"
            )
        if suffix not in SAFE_SUFFIXES + PICKLE_SUFFIXES:
            raise ModelLoadError(
                f"LoRA {path} is not a .safetensors file (or {', '.join(PICKLE_SUFFIXES)} "
                "with --allow-pickle)"
            )
        name = f"lora_{self._loaded}"
        self._loaded += 1
        try:
            self.pipe.load_lora_weights(str(path), adapter_name=name)
        except (ValueError, KeyError, IndexError, OSError, RuntimeError, TypeError) as err:
            # diffusers and peft raise any of these for a malformed or foreign file.
            self._forget(name)
            raise ModelLoadError(
                f"{path} is not a LoRA this model accepts: {_first(err)}"
            ) from None
        if not any(name in names for names in self.pipe.get_list_adapters().values()):
            # diffusers only warns when no key matches a layer of this model.
            self._forget(name)
            raise ModelLoadError(f"{path} has no LoRA weights for this model's layers")
        self._adapters[path] = name
        log.info("loaded LoRA %s as adapter %s", path, name)
        return name

    def _forget(self, name: str) -> None:
        """Remove what a failed load may have left behind (e.g. text-encoder layers)."""
        loaded = {n for names in self.pipe.get_list_adapters().values() for n in names}
        if name in loaded:
            self.pipe.delete_adapters(name)


def _first(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
