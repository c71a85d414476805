"""The engine contract every generator honours.

An engine is built for one model (`load_engine` in genlab.engines), then
`generate(request, *, on_step=None) -> GenerationResult` any number of times.
The request's seed must already be concrete: seeds are resolved once, by the
service layer, so that the result and metadata always carry the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from genlab.core.request import GenerationRequest
from genlab.core.result import GenerationResult, StepCallback


@dataclass(frozen=True)
class ModelInfo:
    """A model an engine can run, as listed by `genlab models`."""

    name: str
    engine: str
    source: str  # where it comes from: a folder, file, hub id or "built in"
    description: str = ""


@runtime_checkable
class Engine(Protocol):
    name: str  # the engine's registry name: "procedural", "diffusers", …
    model: str  # the resolved model name

    def generate(
        self, request: GenerationRequest, *, on_step: StepCallback | None = None
    ) -> GenerationResult: ...

    def samplers(self) -> list[tuple[str, list[str]]]:
        """(sampler, [schedule types]) pairs this model accepts."""
        ...
