"""Evaluation: how well a model follows prompts, how two image folders compare, and a
sweep's per-cell and per-group metrics. The CLI's `genlab eval` calls these; the
device a user names ("cuda", "cpu", none for the best one) is resolved here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from genlab.core.request import LoadOptions
from genlab.engines.cache import EngineCache, generate, new_request
from genlab.lab.compare import FD_INTERVAL, FolderComparison, fd_name
from genlab.lab.measurements import MetricValue, RunMetrics
from genlab.metrics.adherence import AdherenceReport, evaluate

__all__ = [
    "FD_INTERVAL",
    "FolderComparison",
    "MetricValue",
    "RunMetrics",
    "adherence",
    "compare_folders",
    "fd_name",
    "measure_run",
]


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


def compare_folders(dir_a: Path, dir_b: Path, *, device: str | None, **options: Any):
    """Feature statistics of DIR_B against DIR_A (genlab.lab.compare.compare_folders);
    `device` as a user names it."""
    from genlab.devices import pick_device
    from genlab.lab import compare

    return compare.compare_folders(dir_a, dir_b, device=pick_device(device), **options)


def measure_run(database: Path, run_id: int, *, device: str | None, **options: Any) -> RunMetrics:
    """A stored sweep's metrics (genlab.lab.measure.measure_run); `device` as a user
    names it."""
    from genlab.devices import pick_device
    from genlab.lab import measure

    return measure.measure_run(database, run_id, device=pick_device(device), **options)
