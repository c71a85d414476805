"""Evaluation services shared by the CLI and (later) the studio."""

from __future__ import annotations

from collections.abc import Callable

from genlab.core.request import LoadOptions
from genlab.metrics.adherence import AdherenceReport, evaluate
from genlab.services.generation import EngineCache, generate, new_request


def adherence(
    model: str,
    *,
    images_per_prompt: int = 4,
    seed: int = 0,
    settings: dict | None = None,
    load: LoadOptions | None = None,
    on_prompt: Callable[[int, int], None] | None = None,
) -> AdherenceReport:
    """Prompt adherence of `model`: each prompt drawn with seeds seed … seed+n-1 in one
    batch, with the request `settings` (steps, sampler, guidance_scale, …) applied."""
    engines = EngineCache()
    base = new_request(prompt="", model=model, seed=seed, **(settings or {}))

    def images(prompt: str, n: int):
        request = base.replace(prompt=prompt, batch_size=n)
        return list(generate(request, load=load, engines=engines).images)

    return evaluate(
        model, images, images_per_prompt=images_per_prompt, on_prompt=on_prompt, seed=seed
    )
