"""Inpainting by blending, for UNets of any latent channel count.

diffusers' inpainting pipeline blends only for 4-channel UNets (and conditions 9-channel
inpainting UNets on the mask); any other count, such as the built-in model's 8, is
refused there. The method itself does not depend on the count: after every denoising
step, the latents outside the mask are replaced by the init image's latents noised to
the next step's level, so only the masked region is drawn anew (A1111's "inpaint" on a
plain checkpoint). This runs it on the img2img pipeline through its step-end callback.

A1111's latent fills ("latent noise", "latent nothing") replace the masked part of the
init image's latents before noising; `fill_start_latents` does that for either pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

StepEnd = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]
LatentFill = Callable[[Any], Any]  # init latents (B, C, h, w) -> filled latents


def latent_mask(mask: Image.Image, latents: Any) -> Any:
    """`mask` (white = draw anew) at the size of `latents` (B, C, h, w), as (1, 1, h, w)
    in [0, 1], on their device and dtype."""
    import numpy as np
    import torch

    small = mask.convert("L").resize((latents.shape[-1], latents.shape[-2]))
    weights = torch.from_numpy(np.asarray(small, np.float32) / 255.0)[None, None]
    return weights.to(latents.device, latents.dtype)


def latent_fill(fill: str, mask: Image.Image, seeds: list[int]) -> LatentFill | None:
    """What A1111's "latent noise" / "latent nothing" do to the init latents: the masked
    part becomes unit Gaussian noise drawn from each image's own seed, or zero. None for
    the pixel fills ("original", "fill")."""
    if fill not in ("latent noise", "latent nothing"):
        return None
    import torch

    def apply(latents: Any) -> Any:
        new = latent_mask(mask, latents)
        kept = latents * (1 - new)
        if fill == "latent nothing":
            return kept
        noise = torch.stack(
            [
                torch.randn(latents.shape[1:], generator=torch.Generator().manual_seed(seed))
                for seed in seeds
            ]
        ).to(latents.device, latents.dtype)  # (B, C, h, w)
        return kept + noise * new

    return apply


def fill_start_latents(scheduler: Any, fill: LatentFill) -> None:
    """Apply `fill` to the latents the pipeline noises first: its start latents.

    Both img2img and inpainting pipelines make them with `scheduler.add_noise(init,
    noise, t)` before any other call of it (an inpainting pipeline at strength 1 starts
    from pure noise; its first call then blends step 0, and filling there changes only
    the blurred edge of the mask). `scheduler` is this request's own instance."""
    original = scheduler.add_noise
    state = {"first": True}

    def add_noise(samples: Any, noise: Any, timesteps: Any) -> Any:
        if state["first"] and samples.shape[0] == noise.shape[0]:
            state["first"] = False
            samples = fill(samples)
        return original(samples, noise, timesteps)

    scheduler.add_noise = add_noise


def blends_itself(pipe: Any) -> bool:
    """Whether diffusers' own inpainting pipeline handles this UNet (4 or 9 channels)."""
    return pipe.unet.config.in_channels in (4, 9)


def blending_callback(
    pipe: Any,
    init_image: Image.Image,
    mask: Image.Image,
    seeds: list[int],
    then: StepEnd | None = None,
    fill: LatentFill | None = None,
) -> StepEnd:
    """A step-end callback for `pipe` (an img2img pipeline) that keeps everything
    outside `mask` (white = draw anew) from `init_image`; `then` runs after it.

    The blending noise comes from its own generator per image (seed + 1 as in no other
    draw of the run), so image i still depends on seed i alone. `fill` (a latent fill)
    changes the init latents blended in, as it changes the start latents."""
    import torch

    with torch.inference_mode():
        pixels = pipe.image_processor.preprocess(init_image).to(pipe.device, pipe.vae.dtype)
        init = pipe.vae.encode(pixels).latent_dist.mode() * pipe.vae.config.scaling_factor
    keep_new = latent_mask(mask, init)  # (1, 1, h, w)
    noise = torch.cat(
        [
            torch.randn(init.shape, generator=torch.Generator().manual_seed(seed + 1))
            for seed in seeds
        ]
    ).to(init.device, init.dtype)  # (B, C, h, w)
    init = init.expand(len(seeds), -1, -1, -1)
    if fill is not None:
        init = fill(init)

    def callback(step_pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict:
        # The pipeline runs the last num_timesteps of the schedule (img2img skips the
        # first ones); index counts within those.
        timesteps = step_pipe.scheduler.timesteps[-step_pipe.num_timesteps :]
        original = init
        if index < len(timesteps) - 1:
            following = timesteps[index + 1 : index + 2]
            original = step_pipe.scheduler.add_noise(init, noise, following)
        latents = tensors["latents"]
        tensors["latents"] = (1 - keep_new) * original.to(latents.dtype) + keep_new * latents
        return then(step_pipe, index, timestep, tensors) if then is not None else tensors

    return callback
