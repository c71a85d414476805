"""What an engine gives back, and the progress events it emits on the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genlab.core.request import GenerationRequest

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class StepEvent:
    """One step of a long job finished: a denoising step, a render stage, a style
    transfer's loss evaluation, an upscaled tile.

    `preview` decodes the current state into images only when called, so a listener
    that just draws a progress bar costs nothing extra.
    """

    step: int  # 1-based
    total: int
    preview: Callable[[], list[Image.Image]] | None = None
    # What the step was, for a progress bar ("scale 2/3 256x256 loss 0.41"); tools
    # report their progress with this same event, so every long job has one shape.
    detail: str = ""


StepCallback = Callable[[StepEvent], None]


@dataclass(frozen=True)
class GenerationResult:
    """Images plus everything needed to describe and reproduce each of them.

    `request` is the resolved request: concrete seed and size, as actually run.
    Per-image lists (`seeds`, `prompts`, `negative_prompts`) line up with `images`;
    prompts differ between images when wildcards chose differently per seed.
    """

    images: tuple[Image.Image, ...]
    seeds: tuple[int, ...]
    prompts: tuple[str, ...]
    negative_prompts: tuple[str, ...]
    request: GenerationRequest
    engine: str
    model: str  # the resolved model name (A1111's "Model")
    model_hash: str  # A1111-style short hash, 10 hex digits
    timings: dict[str, float] = field(default_factory=dict)
    # Request fields this engine ignores (the procedural engine has no steps);
    # metadata leaves them out instead of claiming they mattered.
    unused: frozenset[str] = frozenset()
    # Extra A1111 infotext entries, e.g. {"Lora hashes": "...", "Denoising strength": 0.6}.
    extra_params: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.images)
        for name in ("seeds", "prompts", "negative_prompts"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} images")
