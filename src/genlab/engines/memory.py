"""A rough, documented estimate of the activation memory one generation needs.

What grows with the image size is what runs out:
- the VAE decoder at full pixel resolution: its widest full-resolution stage holds
  about `DECODER_LIVE_TENSORS` feature maps of `block_out_channels[1]` channels at
  once (input, normalised copy, conv output, skip, upsampled input ...);
- the UNet at latent resolution, batch doubled by classifier-free guidance; the
  skip connections of the top level live for the whole pass.
Attention is not counted quadratically: diffusers calls torch's
scaled_dot_product_attention, whose fused kernels (CPU and CUDA) do not hold the
full score matrix. Weights are not counted: they are already loaded.

Measured on the tiny test VAE at 1024x1024 (CPU, fp32): 215 MiB peak; this
estimate gives 224 MiB.
"""

from __future__ import annotations

import os
from typing import Any

DECODER_LIVE_TENSORS = 7
UNET_LIVE_TENSORS = 8
# Share of the free memory a generation may plan on; the rest is slack for the
# estimate's error and for everything else running.
MEMORY_SHARE = 0.9


def activation_bytes(pipe: Any, width: int, height: int, batch: int, *, cfg: bool) -> int:
    """Estimated peak activation bytes for `batch` images of `width` x `height`."""
    vae, unet = pipe.vae, pipe.unet
    channels = list(vae.config.block_out_channels)
    full_res_channels = max(channels[:2])
    vae_element = vae.dtype.itemsize
    decoder = batch * width * height * full_res_channels * DECODER_LIVE_TENSORS * vae_element

    factor = pipe.vae_scale_factor
    tokens = (width // factor) * (height // factor)
    unet_batch = batch * (2 if cfg else 1)
    unet_channels = unet.config.block_out_channels[0]
    denoiser = unet_batch * tokens * unet_channels * UNET_LIVE_TENSORS * unet.dtype.itemsize
    return decoder + denoiser


def free_memory(device: str) -> int:
    """Bytes free for new tensors on `device` (system RAM for cpu and Apple's mps)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    return _available_ram()


def _available_ram() -> int:
    # MemAvailable counts reclaimable page cache, which a plain "free" figure misses.
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # not Linux: fall through to sysconf
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30  # no way to ask (e.g. Windows): assume a modest machine
