"""LoRA files on a loaded pipeline (diffusers' peft backend).

Each distinct file is loaded once as its own adapter; a request then activates
exactly its LoRAs with their weights, so requests with different LoRAs can share
one loaded pipeline.
"""

from __future__ import annotations

import logging
from pathlib import Path

from genlab.core.errors import ModelLoadError
from genlab.core.request import LoraSpec
from genlab.engines.sources import PICKLE_SUFFIXES, short_hash

log = logging.getLogger(__name__)


class LoraSet:
    def __init__(self, pipe, *, allow_pickle: bool = False):
        self.pipe = pipe
        self.allow_pickle = allow_pickle
        self._adapters: dict[Path, str] = {}  # file → adapter name
        self._active: tuple[LoraSpec, ...] = ()

    def apply(self, loras: tuple[LoraSpec, ...]) -> dict[str, str]:
        """Activate exactly `loras`; returns A1111's "Lora hashes" entry (or {})."""
        if loras == self._active:
            return self._hashes(loras)
        names = [self._load(Path(lora.path)) for lora in loras]
        if names:
            self.pipe.enable_lora()
            self.pipe.set_adapters(names, adapter_weights=[lora.weight for lora in loras])
        elif self._adapters:
            self.pipe.disable_lora()
        self._active = loras
        return self._hashes(loras)

    def _load(self, path: Path) -> str:
        path = path.expanduser().resolve()
        if path in self._adapters:
            return self._adapters[path]
        if not path.is_file():
            raise ModelLoadError(f"LoRA file {path} does not exist")
        if path.suffix.lower() in PICKLE_SUFFIXES and not self.allow_pickle:
            raise ModelLoadError(
                f"LoRA {path} is a pickle, which can run code when loaded; "
                "pass --allow-pickle only if you trust it"
            )
        name = f"lora_{len(self._adapters)}"
        try:
            self.pipe.load_lora_weights(str(path), adapter_name=name)
        except (ValueError, KeyError, OSError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelLoadError(f"{path} is not a LoRA this model accepts: {first}") from None
        if name not in self.pipe.get_list_adapters().get("unet", []) and not any(
            name in adapters for adapters in self.pipe.get_list_adapters().values()
        ):
            raise ModelLoadError(f"{path} has no LoRA weights for this model's layers")
        self._adapters[path] = name
        log.info("loaded LoRA %s as %s", path, name)
        return name

    @staticmethod
    def _hashes(loras: tuple[LoraSpec, ...]) -> dict[str, str]:
        if not loras:
            return {}
        # A1111 names a LoRA by its file stem and hashes it with a 12-digit short hash.
        text = ", ".join(
            f"{Path(lora.path).stem}: {short_hash(Path(lora.path), 12)}" for lora in loras
        )
        return {"Lora hashes": text}
