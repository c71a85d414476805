"""The `gan` engine: a text-conditional GAN folder (model.safetensors + config.json).

One forward pass draws an image: steps, samplers, guidance and negative prompts do
not apply, which the result says once (a warning and a metadata entry) instead of
refusing a request that carries the usual defaults. Truncation psi (the request's
`truncation`) pulls w towards its training mean: less variety, cleaner images.

Seeds: image i's noise comes from its own CPU generator seeded s+i, so an image is
the same alone or in a batch, on any device. The shipped model is
`genlab/models/gan`; any folder `genlab train gan` wrote loads the same way.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property
from importlib import resources
from pathlib import Path

from genlab.core.errors import EngineError, ModelLoadError
from genlab.core.request import GenerationRequest, LoadOptions
from genlab.core.result import GenerationResult, StepCallback, StepEvent
from genlab.prompts import expand, plain_text

log = logging.getLogger(__name__)

NAME = "gan"
UNUSED = frozenset(
    {"steps", "guidance_scale", "sampler", "schedule", "negative_prompt", "strength", "loras"}
)
NOT_APPLICABLE = "steps, sampler, CFG scale and negative prompt do not apply (one GAN pass)"
CHUNK = 64  # images per forward pass; bounds memory whatever the batch


def shipped_folder() -> Path:
    return Path(str(resources.files("genlab") / "models" / "gan"))


class GanEngine:
    name = NAME

    def __init__(self, folder: Path | None = None, options: LoadOptions | None = None):
        import torch
        from safetensors import SafetensorError

        from genlab.devices import pick_device
        from genlab.engines.gan_net import CONFIG_FILE, WEIGHTS_FILE, load_generator
        from genlab.engines.sources import short_hash

        options = options or LoadOptions()
        self.folder = Path(folder) if folder is not None else shipped_folder()
        for file in (CONFIG_FILE, WEIGHTS_FILE):
            if not (self.folder / file).is_file():
                raise ModelLoadError(
                    f"GAN model {self.folder}: {file} not found (a folder from "
                    "`genlab train gan` holds config.json and model.safetensors)"
                )
        try:
            self.generator, self.config = load_generator(self.folder)
        except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelLoadError(f"GAN model {self.folder} cannot be loaded: {reason}") from None
        self.device = pick_device(options.device)
        self.generator.to(self.device)
        self.model = NAME if folder is None else self.folder.name
        self.model_hash = short_hash(self.folder)
        self._torch = torch

    @cached_property
    def tokenizer(self):
        from genlab.engines.gan_net import WordTokenizer

        g = self.generator.config
        return WordTokenizer(g.vocab, g.max_words)

    @property
    def side(self) -> int:
        return self.generator.config.resolution

    def generate(
        self, request: GenerationRequest, *, on_step: StepCallback | None = None
    ) -> GenerationResult:
        # 1. Check inputs
        if request.seed == -1:
            raise ValueError("resolve the seed first (GenerationRequest.with_seed)")
        if request.init_image is not None or request.mask is not None or request.loras:
            raise EngineError("a GAN draws from prompts only; init_image/mask/loras need diffusion")
        width, height = request.width or self.side, request.height or self.side
        if (width, height) != (self.side, self.side):
            raise EngineError(
                f"this GAN draws {self.side}x{self.side} only, not {width}x{height}; "
                "upscale the result instead"
            )
        request = request.replace(width=width, height=height)
        started = time.perf_counter()
        seeds = request.seeds()
        prompts = [expand(request.prompt, seed) for seed in seeds]
        # 2. Draw, a chunk at a time
        images = self.draw(prompts, seeds, request.truncation)
        if on_step is not None:
            on_step(StepEvent(step=1, total=1, preview=lambda: list(images)))
        # 3. Result: what did not apply, said once
        warnings = [NOT_APPLICABLE]
        unknown = list(dict.fromkeys(w for p in prompts for w in self.unknown_words(p)))
        if unknown:
            warnings.append(
                f"words the GAN never saw in training: {', '.join(unknown)} "
                "(it knows Shapes World's colours, shapes, sizes, positions, lighting, styles)"
            )
            log.info(warnings[-1])
        return GenerationResult(
            images=tuple(images),
            seeds=tuple(seeds),
            prompts=tuple(prompts),
            negative_prompts=("",) * len(images),
            request=request,
            engine=self.name,
            model=self.model,
            model_hash=self.model_hash,
            timings={"generate_s": time.perf_counter() - started},
            unused=UNUSED,
            extra_params={"Truncation psi": request.truncation, "Sampling": "GAN, one pass"},
            warnings=tuple(warnings),
        )

    def unknown_words(self, prompt: str) -> list[str]:
        return self.tokenizer.unknown(plain_text(prompt))

    def draw(self, prompts: list[str], seeds: list[int], psi: float = 1.0) -> list:
        """One image per (prompt, seed), as PIL images."""
        from genlab.engines.gan_net import seeded_noise

        torch = self._torch
        texts = [plain_text(p) for p in prompts]  # A1111 weights mean nothing here
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), CHUNK):
                z = seeded_noise(seeds[start : start + CHUNK], self.generator.config)
                ids = self.tokenizer(texts[start : start + CHUNK])
                batch = self.generator(z.to(self.device), ids.to(self.device), psi)
                out.extend(to_images(batch))
        return out

    def samplers(self) -> list[tuple[str, list[str]]]:
        return []  # nothing is sampled step by step


def to_images(batch) -> list:
    """(B, 3, H, W) in [-1, 1] -> PIL images."""
    from PIL import Image

    arrays = ((batch.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in arrays]


def native_side(model: str) -> int | None:
    """The side a GAN folder draws, read from its config.json without loading it."""
    import json

    folder = shipped_folder() if model == NAME else Path(model)
    try:
        side = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("resolution")
    except (OSError, ValueError, AttributeError):
        return None
    return side if isinstance(side, int) and not isinstance(side, bool) else None


def slerp(a, b, t: float):
    """Spherical interpolation between noise vectors (White 2016): Gaussian noise lives
    near a sphere, and a straight line between two points cuts through its low-norm
    inside, which the generator never saw in training."""
    import torch

    cos = torch.dot(a, b) / (a.norm() * b.norm())
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:  # (nearly) the same direction: a line is the arc
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def walk(
    engine: GanEngine,
    prompt: str,
    seed_from: int,
    seed_to: int,
    frames: int,
    *,
    to_prompt: str | None = None,
    psi: float = 1.0,
) -> list:
    """`frames` images from seed_from to seed_to: z by slerp, and when `to_prompt` is
    given the caption embedding moves linearly from `prompt`'s to `to_prompt`'s."""
    import torch

    from genlab.engines.gan_net import seeded_noise

    g = engine.generator
    z_ends = seeded_noise([seed_from, seed_to], g.config)  # (2, z_dim)
    ids = engine.tokenizer([plain_text(prompt), plain_text(to_prompt or prompt)])
    steps = [i / (frames - 1) for i in range(frames)]
    with torch.inference_mode():
        text = g.embed_text(ids.to(engine.device))  # (2, text_dim)
        z = torch.stack([slerp(z_ends[0], z_ends[1], t) for t in steps]).to(engine.device)
        t = torch.tensor(steps, device=engine.device)[:, None]
        captions = torch.lerp(text[0:1], text[1:2], t)  # (frames, text_dim)
        w = g.mapping(z)
        w = g.w_avg + psi * (w - g.w_avg)
        return to_images(g.synthesis(w, captions))
