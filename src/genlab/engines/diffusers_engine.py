"""The diffusers engine: any Stable Diffusion-family pipeline, txt2img, img2img, inpaint.

One pipeline is loaded per engine; the img2img and inpainting pipelines are built
from the same components (`from_pipe`, no second copy in memory). Prompts go through
genlab's A1111-compatible weighted, chunked embeddings where the pipeline has a
single CLIP text encoder (SD 1.x/2.x); other pipelines get the plain text.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.errors import EngineError, InvalidRequest, UnsupportedImage
from genlab.core.images import open_image
from genlab.core.request import GenerationRequest, LoadOptions
from genlab.core.result import GenerationResult, StepCallback, StepEvent
from genlab.devices import pick_device, pick_dtype
from genlab.engines.hires import (
    circular_padding,
    is_latent,
    start_from,
    upscale_images,
    upscale_latents,
)
from genlab.engines.inpaint import (
    blending_callback,
    blends_itself,
    fill_start_latents,
    latent_fill,
)
from genlab.engines.loading import load_pipeline
from genlab.engines.lora import LoraSet
from genlab.engines.masking import plan_inpaint
from genlab.engines.memory import MEMORY_SHARE, activation_bytes, free_memory
from genlab.engines.schedulers import accepted_samplers, make_scheduler, scheduler_config
from genlab.engines.sources import hub_snapshot, resolve_source, short_hash
from genlab.prompts import expand, plain_text
from genlab.prompts.schedule import reading, split_and

if TYPE_CHECKING:
    from PIL import Image

    from genlab.engines.conditioning import StepConditioning

log = logging.getLogger(__name__)

# Each AND clause is one more UNet prediction per step; A1111 sets no limit, but a
# prompt of hundreds of clauses would be a denial of service rather than a picture.
MAX_AND_CLAUSES = 8
# A1111 rounds an init image's size down to a multiple of 8 when no size is given.
INIT_SIZE_MULTIPLE = 8


class DiffusersEngine:
    """A loaded diffusers pipeline behind genlab's engine contract.

    `memory_budget` (bytes) replaces the measured free memory in the size check,
    for a server that shares one device between jobs.
    """

    name = "diffusers"

    def __init__(
        self, model: str, options: LoadOptions | None = None, *, memory_budget: int | None = None
    ):
        options = options or LoadOptions()
        started = time.perf_counter()
        self.source = resolve_source(model, options)
        self.device = pick_device(options.device)
        self.dtype = pick_dtype(self.device, options.dtype)
        self.memory_budget = memory_budget
        self.warnings: tuple[str, ...] = ()
        location = (
            hub_snapshot(self.source.location)
            if self.source.kind == "hub"
            else Path(self.source.location)
        )
        self.pipe = load_pipeline(self.source, location, options, self.dtype)
        self.model = self.source.name
        self.model_hash = short_hash(location)
        self._place(options)
        self.pipe.set_progress_bar_config(disable=True)
        # Every request's scheduler is built from the model's own config, never from
        # the previous request's scheduler.
        self.scheduler_config = scheduler_config(self.pipe.scheduler)
        self._pipes: dict[str, Any] = {_mode_of(self.pipe): self.pipe}
        self.loras = LoraSet(self.pipe, allow_pickle=options.allow_pickle)
        self.load_s = time.perf_counter() - started

    def _place(self, options: LoadOptions) -> None:
        if options.attention_slicing:
            self.pipe.enable_attention_slicing()
        if options.cpu_offload and self.device != "cpu":
            self.pipe.enable_model_cpu_offload(device=self.device)
            return
        if options.cpu_offload:
            self.warnings += ("--cpu-offload does nothing on the cpu device; ignored",)
            log.warning(self.warnings[-1])
        self.pipe.to(self.device)

    # -- what this model offers ----------------------------------------------------------

    def samplers(self) -> list[tuple[str, list[str]]]:
        return accepted_samplers(self.scheduler_config)

    def native_size(self) -> int:
        sample = self.pipe.unet.config.sample_size
        sample = sample[0] if isinstance(sample, (list, tuple)) else sample
        return int(sample) * self.pipe.vae_scale_factor

    def is_inpainting_model(self) -> bool:
        # SD inpainting UNets take latents (4) + mask (1) + masked-image latents (4).
        return self.pipe.unet.config.in_channels == 9

    def components_summary(self) -> dict[str, str]:
        """Component name → class and size, for `genlab models`."""
        summary = {}
        for name, component in self.pipe.components.items():
            if component is None:
                continue
            text = type(component).__name__
            parameters = getattr(component, "parameters", None)
            if callable(parameters):
                text += f" ({sum(p.numel() for p in parameters()) / 1e6:.2f} M parameters)"
            summary[name] = text
        return summary

    # -- generation ----------------------------------------------------------------------

    def generate(
        self, request: GenerationRequest, *, on_step: StepCallback | None = None
    ) -> GenerationResult:
        import torch

        # 1. Check inputs: concrete seed, inputs readable, size allowed and affordable
        if request.seed == -1:
            raise ValueError("resolve the seed first (GenerationRequest.with_seed)")
        init_image, mask = self._open_inputs(request)
        mode = "inpaint" if mask is not None else "img2img" if init_image is not None else "txt2img"
        if self.is_inpainting_model() and mode != "inpaint":
            raise EngineError(
                f"{self.model} is an inpainting model (9-channel UNet): "
                "it needs init_image and mask"
            )
        width, height = self._size(request, init_image)
        request = request.replace(width=width, height=height)
        self._check_size(request, mode)
        if request.hires:
            self._check_size(self._hires_request(request), "img2img")
        if init_image is not None:
            from PIL import Image

            init_image = init_image.resize((width, height), Image.Resampling.LANCZOS)
            mask = mask.resize((width, height), Image.Resampling.LANCZOS) if mask else None
        # Mask options (invert, blur, fill, only masked): the pipeline inpaints
        # plan.image under plan.mask; plan.paste puts each result back (see masking.py).
        plan = plan_inpaint(request, init_image, mask) if mask is not None else None
        if plan is not None:
            init_image, mask = plan.image, plan.mask
        started = time.perf_counter()
        warnings = list(self.warnings)

        # 2. Prompts: wildcards per image seed, then weighted chunked embeddings
        seeds = request.seeds()
        prompts = [expand(request.prompt, seed) for seed in seeds]
        negatives = [expand(request.negative_prompt, seed) for seed in seeds]
        self._check_clauses(request, prompts)
        prompt_args, conditioning = self._prompt_args(prompts, negatives, request, warnings)

        # 3. Scheduler and LoRAs for this request. A UNet that diffusers' inpainting
        # pipeline cannot blend for (neither 4 nor 9 channels) inpaints on the img2img
        # pipeline, blending at every step (see inpaint.py).
        blend = mode == "inpaint" and not blends_itself(self.pipe)
        pipe = self._pipeline("img2img" if blend else mode)
        pipe.scheduler = make_scheduler(self.scheduler_config, request.sampler, request.schedule)
        extra: dict[str, Any] = {}
        if mode != "txt2img":
            extra["Denoising strength"] = request.strength
        if plan is not None:
            extra.update(plan.extra)
        extra.update(self.loras.apply(request.loras))
        if request.clip_skip > 1:
            extra["Clip skip"] = request.clip_skip

        # 4. One CPU generator per image: image i depends on seed s+i only, on any device
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]

        # 5. Denoise with the pipeline for this mode
        kwargs: dict[str, Any] = {
            **prompt_args,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance_scale,
            "generator": generators,
            # A latent hires upscale starts from the first pass's latents, not pixels.
            "output_type": "latent"
            if request.hires and is_latent(request.hires_upscaler)
            else "pil",
        }
        if mode == "txt2img" or (mode == "inpaint" and not blend):
            kwargs.update(height=height, width=width)
        if mode in ("img2img", "inpaint"):
            kwargs.update(image=init_image, strength=request.strength)
        if mode == "inpaint" and not blend:
            kwargs.update(mask_image=mask)
        callback = _step_reporter(pipe, on_step) if on_step is not None else None
        fill = latent_fill(request.inpaint_fill, mask, seeds) if mode == "inpaint" else None
        if fill is not None:
            fill_start_latents(pipe.scheduler, fill)
        if blend:
            callback = blending_callback(pipe, init_image, mask, seeds, then=callback, fill=fill)
        if conditioning is not None:
            callback = conditioning.callback(then=callback)
        if callback is not None:
            kwargs.update(
                callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"]
            )
        per_step = conditioning.patched(pipe.unet) if conditioning else contextlib.nullcontext()
        tiling = (
            circular_padding(pipe.unet, pipe.vae) if request.tiling else contextlib.nullcontext()
        )
        with torch.inference_mode(), tiling:
            with per_step:  # the first pass's conditioning only
                images = pipe(**kwargs).images
            if request.hires:
                images = self._hires_pass(request, images, prompts, negatives, warnings, on_step)
                extra.update(_hires_params(request))
        if request.tiling:
            extra["Tiling"] = True
        if plan is not None:
            # What is not masked stays the init image, pixel for pixel, as in A1111: the
            # decoder (its attention, its receptive field) would otherwise shift it.
            images = [plan.paste(image) for image in images]

        # 6. Result: per-image seeds and expanded prompts, the request as run
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
            unused=frozenset({"strength"}) if mode == "txt2img" else frozenset(),
            extra_params=extra,
            warnings=tuple(dict.fromkeys(warnings)),
        )

    # -- hires fix -----------------------------------------------------------------------

    @staticmethod
    def _hires_request(request: GenerationRequest) -> GenerationRequest:
        """The second pass as an img2img-sized request (for the size and step checks)."""
        assert request.width is not None and request.height is not None
        width, height = request.hires_size(request.width, request.height)
        return request.without_hires().replace(
            width=width,
            height=height,
            steps=request.hires_steps or request.steps,
            strength=request.hires_denoise,
        )

    def _hires_pass(
        self,
        request: GenerationRequest,
        first: Any,
        prompts: list[str],
        negatives: list[str],
        warnings: list[str],
        on_step: StepCallback | None,
    ) -> list[Image.Image]:
        """Upscale the first pass (latents or images) and denoise it again (img2img)."""
        import torch
        from PIL import Image

        second = self._hires_request(request)
        assert second.width is not None and second.height is not None
        size = (second.width, second.height)
        pipe = self._pipeline("img2img")
        pipe.scheduler = make_scheduler(self.scheduler_config, request.sampler, request.schedule)
        # Prompt schedules count the second pass's own steps, as in A1111.
        prompt_args, conditioning = self._prompt_args(prompts, negatives, second, warnings)
        if is_latent(request.hires_upscaler):
            factor = self.pipe.vae_scale_factor
            start = upscale_latents(
                first, (size[0] // factor, size[1] // factor), request.hires_upscaler
            )
            start_from(pipe.scheduler, start)
            # Only its size matters: the latents above replace its encoding.
            images = [Image.new("RGB", size, (127, 127, 127))] * len(prompts)
        else:
            images = upscale_images(list(first), size, request.hires_upscaler, self.device)
        callback = _step_reporter(pipe, on_step) if on_step is not None else None
        if conditioning is not None:
            callback = conditioning.callback(then=callback)
        kwargs: dict[str, Any] = {
            **prompt_args,
            "image": images,
            "strength": second.strength,
            "num_inference_steps": second.steps,
            "guidance_scale": request.guidance_scale,
            "generator": [torch.Generator("cpu").manual_seed(s) for s in request.seeds()],
            "output_type": "pil",
        }
        if callback is not None:
            kwargs.update(
                callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"]
            )
        per_step = conditioning.patched(pipe.unet) if conditioning else contextlib.nullcontext()
        with per_step:
            return pipe(**kwargs).images

    # -- helpers -------------------------------------------------------------------------

    def _open_inputs(
        self, request: GenerationRequest
    ) -> tuple[Image.Image | None, Image.Image | None]:
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

    def _size(self, request: GenerationRequest, init_image: Image.Image | None) -> tuple[int, int]:
        """The request's size; a missing side comes from the init image (rounded down
        to a multiple of 8, as A1111 does) or else from the model's native size."""
        if init_image is None:
            native = self.native_size()
            return request.width or native, request.height or native
        if min(init_image.size) < INIT_SIZE_MULTIPLE:
            raise UnsupportedImage(
                f"init image {request.init_image} is {init_image.width}x{init_image.height}; "
                f"both sides must be at least {INIT_SIZE_MULTIPLE} pixels"
            )
        step = INIT_SIZE_MULTIPLE
        return (
            request.width or init_image.width // step * step,
            request.height or init_image.height // step * step,
        )

    def _check_size(self, request: GenerationRequest, mode: str) -> None:
        factor = self.pipe.vae_scale_factor
        for name in ("width", "height"):
            value = getattr(request, name)
            if value % factor:
                raise InvalidRequest(name, value, f"must be a multiple of {factor} for this model")
        if mode != "txt2img" and int(request.steps * request.strength) < 1:
            # img2img runs steps * strength of the schedule; zero steps is no image.
            raise InvalidRequest(
                "strength",
                request.strength,
                f"with {request.steps} steps must be at least {1 / request.steps:.3g} "
                "so that one step runs",
            )
        assert request.width is not None and request.height is not None
        self._check_memory(request, request.batch_size, cfg=request.guidance_scale > 1)

    def _check_clauses(self, request: GenerationRequest, prompts: list[str]) -> None:
        """AND runs the UNet once per clause (and once unconditioned): few clauses, and
        memory for that batch."""
        clauses = max(len(split_and(p)) for p in prompts)
        if clauses > MAX_AND_CLAUSES:
            raise InvalidRequest(
                "prompt", request.prompt, f"at most {MAX_AND_CLAUSES} AND clauses, not {clauses}"
            )
        if clauses > 1:
            self._check_memory(request, request.batch_size * (clauses + 1), cfg=False)

    def _check_memory(self, request: GenerationRequest, batch: int, *, cfg: bool) -> None:
        assert request.width is not None and request.height is not None
        needed = activation_bytes(self.pipe, request.width, request.height, batch, cfg=cfg)
        budget = self.memory_budget
        if budget is None:
            budget = int(free_memory(self.device) * MEMORY_SHARE)
        if needed > budget:
            raise InvalidRequest(
                "width*height*batch_size",
                f"{request.width}x{request.height}x{request.batch_size}",
                f"needs about {needed / 2**30:.2f} GiB of activations but "
                f"{budget / 2**30:.2f} GiB is available on {self.device}; "
                "use a smaller size or batch",
            )

    def _prompt_args(
        self,
        prompts: list[str],
        negatives: list[str],
        request: GenerationRequest,
        warnings: list[str],
    ) -> tuple[dict[str, Any], StepConditioning | None]:
        """The pipeline's prompt arguments, and the per-step conditioning that replaces
        them at every step when a prompt uses editing, alternation or AND."""
        pipe = self.pipe
        single_clip = getattr(pipe, "tokenizer", None) is not None and not hasattr(
            pipe, "tokenizer_2"
        )
        if single_clip:
            from genlab.engines.conditioning import StepConditioning, is_dynamic
            from genlab.engines.embeddings import encode_prompts

            def encode(texts: list[str], negative_texts: list[str]) -> tuple[Any, Any]:
                # With CPU offload the text encoder runs where the pipeline executes.
                return encode_prompts(
                    pipe.tokenizer,
                    pipe.text_encoder,
                    texts,
                    negative_texts,
                    device=pipe._execution_device,
                    clip_skip=request.clip_skip,
                )

            if is_dynamic(prompts, negatives, request.steps):
                conditioning = StepConditioning(
                    prompts,
                    negatives,
                    request.steps,
                    lambda texts: encode(texts, [""] * len(texts))[0],
                )
                return conditioning.start(), conditioning
            positive, negative = encode(prompts, negatives)
            return {"prompt_embeds": positive, "negative_prompt_embeds": negative}, None
        # Pipelines with two text encoders (SDXL) get plain text: their own encoders.
        readings = [reading(p) for p in prompts]
        if readings != prompts or any(reading(n) != n for n in negatives):
            warnings.append(
                "prompt editing, alternation and AND need a single CLIP text encoder; "
                "this pipeline got each prompt's final text"
            )
        texts = readings + [reading(n) for n in negatives]
        if any(plain_text(t) != t for t in texts):
            warnings.append("prompt weights are ignored by this pipeline's text encoders")
        args: dict[str, Any] = {
            "prompt": [plain_text(p) for p in readings],
            "negative_prompt": [plain_text(reading(n)) for n in negatives],
        }
        if request.clip_skip > 1:
            args["clip_skip"] = request.clip_skip - 1  # diffusers counts layers skipped
        return args, None

    def _pipeline(self, mode: str) -> Any:
        if mode not in self._pipes:
            from diffusers import (
                AutoPipelineForImage2Image,
                AutoPipelineForInpainting,
                AutoPipelineForText2Image,
            )

            auto = {
                "txt2img": AutoPipelineForText2Image,
                "img2img": AutoPipelineForImage2Image,
                "inpaint": AutoPipelineForInpainting,
            }[mode]
            try:
                pipe = auto.from_pipe(self.pipe)
            except ValueError as err:
                raise EngineError(f"{self.model} cannot do {mode}: {_first_line(err)}") from None
            pipe.set_progress_bar_config(disable=True)
            self._pipes[mode] = pipe
        return self._pipes[mode]


def _hires_params(request: GenerationRequest) -> dict[str, Any]:
    """The hires fix as A1111 writes it (processing.StableDiffusionProcessingTxt2Img)."""
    params: dict[str, Any] = {"Denoising strength": request.hires_denoise}
    if request.hires_width or request.hires_height:
        params["Hires resize"] = f"{request.hires_width or 0}x{request.hires_height or 0}"
    else:
        params["Hires upscale"] = request.hires_scale
    if request.hires_steps:
        params["Hires steps"] = request.hires_steps
    params["Hires upscaler"] = request.hires_upscaler
    return params


def _mode_of(pipe: Any) -> str:
    name = type(pipe).__name__
    return "inpaint" if "Inpaint" in name else "img2img" if "Img2Img" in name else "txt2img"


def _step_reporter(pipe: Any, on_step: StepCallback) -> Any:
    """A diffusers step-end callback that forwards a StepEvent with a lazy preview."""

    def callback(_pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
        # A copy, so a preview asked for later still shows this step. Latents are
        # small; decoding them is the expensive part, and happens only on demand.
        latents = tensors["latents"].clone()
        on_step(
            StepEvent(
                step=index + 1, total=pipe.num_timesteps, preview=lambda: _decode(pipe, latents)
            )
        )
        return tensors

    return callback


def _decode(pipe: Any, latents: Any) -> list[Image.Image]:
    import torch

    with torch.inference_mode():
        scaled = latents.to(pipe.vae.dtype) / pipe.vae.config.scaling_factor
        pixels = pipe.vae.decode(scaled).sample  # (B, 3, H, W) in [-1, 1]
    return pipe.image_processor.postprocess(pixels, output_type="pil")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
