"""Inpainting by blending, for UNets of any latent channel count.

diffusers' inpainting pipeline blends only for 4-channel UNets (and conditions 9-channel
inpainting UNets on the mask); any other count, such as the built-in model's 8, is
refused there. The method itself does not depend on the count: after every denoising
step, the latents outside the mask are replaced by the init image's latents noised to
the next step's level, so only the masked region is drawn anew (A1111's "inpaint" on a
plain checkpoint). This runs it on the img2img pipeline through its step-end callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

StepEnd = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]


def blends_itself(pipe: Any) -> bool:
    """Whether diffusers' own inpainting pipeline handles this UNet (4 or 9 channels)."""
    return pipe.unet.config.in_channels in (4, 9)


def blending_callback(
    pipe: Any,
    init_image: Image.Image,
    mask: Image.Image,
    seeds: list[int],
    then: StepEnd | None = None,
) -> StepEnd:
    """A step-end callback for `pipe` (an img2img pipeline) that keeps everything
    outside `mask` (white = draw anew) from `init_image`; `then` runs after it.

    The blending noise comes from its own generator per image (seed + 1 as in no other
    draw of the run), so image i still depends on seed i alone."""
    import numpy as np
    import torch

    factor = pipe.vae_scale_factor
    width, height = init_image.size
    with torch.inference_mode():
        pixels = pipe.image_processor.preprocess(init_image).to(pipe.device, pipe.vae.dtype)
        init = pipe.vae.encode(pixels).latent_dist.mode() * pipe.vae.config.scaling_factor
    small = mask.convert("L").resize((width // factor, height // factor))
    keep_new = torch.from_numpy(np.asarray(small, np.float32) / 255.0)[None, None]  # (1,1,h,w)
    keep_new = keep_new.to(init.device, init.dtype)
    noise = torch.cat(
        [
            torch.randn(init.shape, generator=torch.Generator().manual_seed(seed + 1))
            for seed in seeds
        ]
    ).to(init.device, init.dtype)  # (B, C, h, w)
    init = init.expand(len(seeds), -1, -1, -1)

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
