"""Running a request on an engine: the one loaded engine kept between requests, and
the request a user's fields make with the model's tuned defaults.

Sweeps (lab/), the evaluation and the studio's worker all run requests this way, so
it lives beside the engines rather than in services/, which calls it for the adapters.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from genlab.core.errors import InvalidRequest
from genlab.core.request import DEFAULT_MODEL, GenerationRequest, LoadOptions
from genlab.core.result import GenerationResult, StepCallback

if TYPE_CHECKING:
    from genlab.core.engine import Engine

log = logging.getLogger(__name__)


class EngineCache:
    """Keeps the most recently used engine loaded: loading a model costs far more
    than running it, and jobs for the same model usually come in runs. Only one is
    kept so two large checkpoints never sit in memory together."""

    def __init__(self) -> None:
        self._key: tuple[str, LoadOptions] | None = None
        self._engine: Engine | None = None
        # The process-wide cache is shared by threads (a server's worker beside a
        # sweep or a test): a swap half done by one must not be seen by another.
        self._lock = threading.Lock()

    def get(self, model: str, options: LoadOptions) -> Engine:
        from genlab.engines import load_engine

        key = (model, options)
        with self._lock:
            if self._key != key or self._engine is None:
                self._engine = None  # drop the old model before loading the next
                started = time.perf_counter()
                self._engine = load_engine(model, options)
                log.info("loaded %s in %.2fs", model, time.perf_counter() - started)
                self._key = key
            return self._engine

    def clear(self) -> None:
        with self._lock:
            self._key = self._engine = None


_shared_cache = EngineCache()


def new_request(**fields: object) -> GenerationRequest:
    """A request from the fields a user gave; the rest from the model's tuned settings
    (the built-in model's steps and guidance), else GenerationRequest's defaults."""
    from genlab.engines import model_defaults

    model = str(fields.get("model") or DEFAULT_MODEL)
    return GenerationRequest(**{**model_defaults(model), **fields})


def generate(
    request: GenerationRequest,
    *,
    load: LoadOptions | None = None,
    on_step: StepCallback | None = None,
    engines: EngineCache | None = None,
) -> GenerationResult:
    """Run one request on the engine its `model` names; the seed is resolved here."""
    engine = (engines or _shared_cache).get(request.model, load or LoadOptions())
    if request.truncation != 1.0 and engine.name != "gan":
        raise InvalidRequest(
            "truncation", request.truncation, f"applies to GAN models only, not {engine.name}"
        )
    return engine.generate(request.with_seed(), on_step=on_step)
