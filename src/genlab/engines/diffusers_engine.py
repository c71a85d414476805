"""The diffusers engine: any Stable Diffusion-family pipeline, txt2img, img2img, inpaint.

One pipeline is loaded per engine; the img2img and inpainting pipelines are built
from the same components (`from_pipe`, no second copy in memory). Prompts go through
genlab's A1111-compatible weighted, chunked embeddings where the pipeline has a
single CLIP text encoder (SD 1.x/2.x); other pipelines get the plain text.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from genlab.core.errors import InvalidRequest, ModelLoadError, UnsupportedImage
from genlab.core.images import open_image
from genlab.core.request import GenerationRequest, LoadOptions
from genlab.core.result import GenerationResult, StepCallback, StepEvent
from genlab.engines.devices import pick_device, pick_dtype
from genlab.engines.lora import LoraSet
from genlab.engines.schedulers import accepted_samplers, make_scheduler
from genlab.engines.sources import ModelSource, hub_snapshot, resolve_source, short_hash
from genlab.prompts import expand, plain_text

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

# Share of free memory a generation may plan to use; the rest is for weights,
# activations outside attention and the rest of the system.
MEMORY_HEADROOM = 0.5


class DiffusersEngine:
    name = "diffusers"

    def __init__(self, model: str, options: LoadOptions | None = None):
        options = options or LoadOptions()
        started = time.perf_counter()
        self.source = resolve_source(model, options)
        self.device = pick_device(options.device)
        self.dtype = pick_dtype(self.device, options.dtype)
        self.warnings: list[str] = []
        self.pipe = _load_pipeline(self.source, options, self.dtype)
        self.model = self.source.name
        location = hub_snapshot(self.source.location) if self.source.kind == "hub" else None
        self.model_hash = short_hash(location or _path(self.source.location))
        self._place(options)
        self.pipe.set_progress_bar_config(disable=True)
        # Every request's scheduler is built from the model's own config, never from
        # the previous request's scheduler.
        self.scheduler_config = dict(self.pipe.scheduler.config)
        self._pipes: dict[str, Any] = {"txt2img": self.pipe}
        self.loras = LoraSet(self.pipe, allow_pickle=options.allow_pickle)
        self.load_s = time.perf_counter() - started

    def _place(self, options: LoadOptions) -> None:
        if options.attention_slicing:
            self.pipe.enable_attention_slicing()
        if options.cpu_offload and self.device != "cpu":
            self.pipe.enable_model_cpu_offload(device=self.device)
            return
        if options.cpu_offload:
            self.warnings.append("--cpu-offload does nothing on the cpu device; ignored")
        self.pipe.to(self.device)

    def samplers(self) -> list[tuple[str, list[str]]]:
        return accepted_samplers(self.scheduler_config)

    def native_size(self) -> int:
        sample = self.pipe.unet.config.sample_size
        sample = sample[0] if isinstance(sample, (list, tuple)) else sample
        return int(sample) * self.pipe.vae_scale_factor

    def generate(
        self, request: GenerationRequest, *, on_step: StepCallback | None = None
    ) -> GenerationResult:
        import torch

        # 1. Check inputs
        if request.seed == -1:
            raise ValueError("resolve the seed first (GenerationRequest.with_seed)")
        init_image, mask = self._open_inputs(request)
        if init_image is not None and request.width is None and request.height is None:
            size = (init_image.width // 8 * 8, init_image.height // 8 * 8)
        else:
            size = (request.width or self.native_size(), request.height or self.native_size())
        request = request.replace(width=size[0], height=size[1])
        self._check_size(request)
        if init_image is not None:
            init_image = init_image.resize(size)
            mask = mask.resize(size) if mask is not None else None
        started = time.perf_counter()

        # 2. Prompts: wildcards per image seed, then weighted chunked embeddings
        seeds = request.seeds()
        prompts = [expand(request.prompt, s) for s in seeds]
        negatives = [expand(request.negative_prompt, s) for s in seeds]
        prompt_args = self._prompt_args(prompts, negatives)

        # 3. Scheduler and LoRAs for this request
        mode = "inpaint" if mask is not None else "img2img" if init_image is not None else "txt2img"
        pipe = self._pipeline(mode)
        pipe.scheduler = make_scheduler(
            self.pipe.scheduler.config, request.sampler, request.schedule
        )
        extra: dict[str, Any] = self.loras.apply(request.loras)

        # 4. One CPU generator per image: image i depends on seed s+i only
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]

        # 5. Denoising
        kwargs: dict[str, Any] = {
            **prompt_args,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance_scale,
            "generator": generators,
            "output_type": "pil",
        }
        if mode == "txt2img":
            kwargs.update(height=size[1], width=size[0])
        else:
            kwargs.update(image=init_image, strength=request.strength)
            extra["Denoising strength"] = request.strength
        if mode == "inpaint":
            kwargs.update(mask_image=mask, height=size[1], width=size[0])
        if on_step is not None:
            kwargs.update(
                callback_on_step_end=_step_reporter(pipe, on_step),
                callback_on_step_end_tensor_inputs=["latents"],
            )
        with torch.inference_mode():
            images = pipe(**kwargs).images

        # 6. Result
        return GenerationResult(
            images=tuple(images),
            seeds=tuple(seeds),
            prompts=tuple(prompts),
            negative_prompts=tuple(negatives),
            request=request,
            engine=self.name,
            model=self.model,
            model_hash=self.model_hash,
            timings={"load_s": self.load_s, "generate_s": time.perf_counter() - started},
            unused=frozenset() if mode != "txt2img" else frozenset({"strength"}),
            extra_params=extra,
            warnings=tuple(self.warnings),
        )

    # -- helpers -------------------------------------------------------------------------

    def _open_inputs(self, request: GenerationRequest) -> tuple[Image.Image | None, ...]:
        if request.init_image is None:
            return None, None
        init_image = open_image(request.init_image, what="init image", keep_alpha=False)
        if request.mask is None:
            return init_image, None
        mask = open_image(request.mask, what="mask", keep_alpha=False).convert("L")
        if mask.size != init_image.size:
            raise UnsupportedImage(
                f"mask {request.mask} is {mask.width}x{mask.height} but the init image is "
                f"{init_image.width}x{init_image.height}; they must be the same size"
            )
        return init_image, mask

    def _check_size(self, request: GenerationRequest) -> None:
        factor = self.pipe.vae_scale_factor
        for name in ("width", "height"):
            value = getattr(request, name)
            if value % factor:
                raise InvalidRequest(name, value, f"must be a multiple of {factor} for this model")
        needed = attention_bytes(self.pipe.unet, request, factor, self.dtype)
        free = free_memory(self.device)
        if needed > free * MEMORY_HEADROOM:
            raise InvalidRequest(
                "width*height*batch_size",
                f"{request.width}x{request.height}x{request.batch_size}",
                f"needs about {needed / 2**30:.1f} GiB for attention; "
                f"{free / 2**30:.1f} GiB free — use a smaller size or batch",
            )

    def _prompt_args(self, prompts: list[str], negatives: list[str]) -> dict[str, Any]:
        pipe = self.pipe
        single_clip = getattr(pipe, "tokenizer", None) is not None and not hasattr(
            pipe, "tokenizer_2"
        )
        if single_clip:
            from genlab.prompts.embeddings import encode_prompts

            positive, negative = encode_prompts(
                pipe.tokenizer, pipe.text_encoder, prompts, negatives, device=self.device
            )
            return {"prompt_embeds": positive, "negative_prompt_embeds": negative}
        # Pipelines with two text encoders get plain text: their own encoders, no weights.
        if any(plain_text(p) != p for p in prompts + negatives):
            self.warnings.append("prompt weights are ignored by this pipeline's text encoders")
        return {
            "prompt": [plain_text(p) for p in prompts],
            "negative_prompt": [plain_text(n) for n in negatives],
        }

    def _pipeline(self, mode: str):
        if mode not in self._pipes:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForImage2Image if mode == "img2img" else AutoPipelineForInpainting
            try:
                pipe = auto.from_pipe(self.pipe)
            except ValueError as err:
                raise ModelLoadError(f"{self.model} cannot do {mode}: {err}") from None
            pipe.set_progress_bar_config(disable=True)
            self._pipes[mode] = pipe
        return self._pipes[mode]


def _path(location: str):
    from pathlib import Path

    return Path(location)


def _load_pipeline(source: ModelSource, options: LoadOptions, dtype):
    """Load the pipeline, turning every library failure into one ModelLoadError line."""
    import diffusers
    import transformers
    from safetensors import SafetensorError

    # genlab draws its own progress; the libraries' loading bars would interleave.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        if source.kind == "file":
            return diffusers.StableDiffusionPipeline.from_single_file(
                source.location,
                config=options.config,
                dtype=dtype,
                safety_checker=None,
                local_files_only=offline or options.config is not None,
            )
        location = (
            source.location if source.kind == "folder" else str(hub_snapshot(source.location))
        )
        return diffusers.DiffusionPipeline.from_pretrained(
            location, dtype=dtype, safety_checker=None, local_files_only=True
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as err:
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        hint = ""
        if source.kind == "file" and options.config is None:
            hint = " (offline, a single file needs --config with a matching pipeline folder)"
        raise ModelLoadError(f"cannot load {source.location}: {first}{hint}") from None


def _step_reporter(pipe, on_step: StepCallback):
    """A diffusers step-end callback that forwards a StepEvent with a lazy preview."""

    def callback(_pipe, index: int, _timestep, tensors: dict[str, Any]) -> dict[str, Any]:
        latents = tensors["latents"].detach().clone()
        on_step(
            StepEvent(
                step=index + 1, total=pipe.num_timesteps, preview=lambda: _decode(pipe, latents)
            )
        )
        return tensors

    return callback


def _decode(pipe, latents) -> list[Image.Image]:
    import torch

    with torch.inference_mode():
        scaled = latents.to(pipe.vae.dtype) / pipe.vae.config.scaling_factor
        pixels = pipe.vae.decode(scaled).sample  # (B, 3, H, W) in [-1, 1]
    return pipe.image_processor.postprocess(pixels, output_type="pil")


def attention_bytes(unet, request: GenerationRequest, factor: int, dtype) -> int:
    """Memory for the attention scores at the UNet's finest attention level, computed
    one head at a time (what SDPA or attention slicing achieve), with CFG doubling
    the batch. It grows with the square of the pixel count, which is what makes
    large sizes fail, so it is the part worth estimating."""
    import torch

    blocks = list(unet.config.down_block_types)
    level = next((i for i, b in enumerate(blocks) if "Attn" in b), len(blocks) - 1)
    side = factor * 2**level
    tokens = (request.width // side) * (request.height // side)
    element = torch.finfo(dtype).bits // 8
    return 2 * request.batch_size * tokens * tokens * element


def free_memory(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not Linux: assume a modest machine
        return 8 * 2**30
