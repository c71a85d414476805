"""The procedural engine: Shapes World scenes drawn from the prompt, no learning.

Each image i reads the prompt with `random.Random(seed_i)` filling whatever the prompt
leaves open (shape, colour, size, setting, positions), then renders the scene with the
same generator, so image i of a batch equals a single image made with seed s+i.
numpy and Pillow only: this is the offline default and must start instantly.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import time

from genlab.core.errors import EngineError
from genlab.core.request import GenerationRequest
from genlab.core.result import GenerationResult, StepCallback, StepEvent
from genlab.prompts import expand
from genlab.prompts.schedule import reading
from genlab.world import WORLD_VERSION
from genlab.world.parse import scene_from_prompt
from genlab.world.render import render
from genlab.world.scene import Scene

log = logging.getLogger(__name__)

DEFAULT_SIDE = 256
# Request fields that change nothing here; metadata leaves them out.
UNUSED = frozenset(
    {
        "steps",
        "guidance_scale",
        "sampler",
        "schedule",
        "negative_prompt",
        "strength",
        "loras",
        "clip_skip",
    }
)
# What the A1111 text says instead: a scene is drawn in one pass, by no sampler. Readers
# of A1111 metadata (and A1111's own PNG Info) look for Steps and Sampler to recognise
# generation parameters; these values are true of this engine.
PARAMETERS = {"Steps": 1, "Sampler": "procedural"}
READING_NOTE = (
    "Shapes World draws one fixed scene: prompt editing at its final text, "
    "alternation at its first option, only the first AND clause"
)


class ProceduralEngine:
    name = "procedural"
    model = "shapes-world"
    # Tied to the world version so images from a changed renderer get a new hash.
    model_hash = hashlib.sha256(WORLD_VERSION.encode()).hexdigest()[:10]

    def generate(
        self, request: GenerationRequest, *, on_step: StepCallback | None = None
    ) -> GenerationResult:
        # 1. Check inputs
        if request.seed == -1:
            raise ValueError("resolve the seed first (GenerationRequest.with_seed)")
        if request.init_image is not None or request.mask is not None or request.loras:
            raise EngineError(
                "the procedural engine draws from prompts only; "
                "init_image/mask/loras need a diffusion model"
            )
        if request.hires or request.tiling:
            raise EngineError(
                "the procedural engine draws each scene once, at its size; "
                "hires fix and tiling need a diffusion model"
            )
        width = request.width or DEFAULT_SIDE
        height = request.height or DEFAULT_SIDE
        request = request.replace(width=width, height=height)
        started = time.perf_counter()

        # 2. One scene and one image per seed
        images, prompts, unknown = [], [], []
        for i, seed in enumerate(request.seeds()):
            prompt = _prompt_for(request, seed)
            rng = random.Random(seed)
            scene, words = scene_from_prompt(prompt, rng)
            images.append(render(scene, width, height, rng=rng))
            prompts.append(prompt)
            unknown.extend(w for w in words if w not in unknown)
            if on_step is not None:
                # The preview is the images drawn so far; nothing is left to decode.
                preview = functools.partial(list, tuple(images))
                on_step(StepEvent(step=i + 1, total=request.batch_size, preview=preview))

        # 3. Result
        warnings = []
        extra: dict[str, object] = dict(PARAMETERS)
        if any(reading(p).strip() != p.strip() for p in prompts):
            warnings.append(READING_NOTE)
            extra["Prompt reading"] = "final edit, first alternative, first AND clause"
        if unknown:
            warnings.append(f"ignored words not in Shapes World's vocabulary: {', '.join(unknown)}")
            log.info(warnings[-1])
        return GenerationResult(
            images=tuple(images),
            seeds=tuple(request.seeds()),
            prompts=tuple(prompts),
            negative_prompts=(request.negative_prompt,) * len(images),
            request=request,
            engine=self.name,
            model=self.model,
            model_hash=self.model_hash,
            timings={"generate_s": time.perf_counter() - started},
            unused=UNUSED,
            extra_params=extra,
            warnings=tuple(warnings),
        )

    @staticmethod
    def scene_for(prompt: str, seed: int) -> Scene:
        """The scene `generate` draws for this prompt text and per-image seed."""
        return scene_from_prompt(prompt, random.Random(seed))[0]

    def samplers(self) -> list[tuple[str, list[str]]]:
        return []  # nothing is sampled step by step


def _prompt_for(request: GenerationRequest, seed: int) -> str:
    """The prompt text image `seed` uses: wildcards chosen from that image's seed, so
    batch image i is the single image with seed s+i."""
    return expand(request.prompt, seed)
