"""Sample grids during training: fixed prompts and seed, so grids compare step to step."""

from __future__ import annotations

from collections.abc import Sequence

import torch


@torch.no_grad()
def sample_grid(pipe, prompts: Sequence[str], *, steps: int, seed: int, size: int):
    """One image per prompt, labelled, from `pipe` as it is now."""
    from genlab.core.grid import labelled_grid

    pipe.set_progress_bar_config(disable=True)
    generators = [torch.Generator().manual_seed(seed + i) for i in range(len(prompts))]
    images = pipe(
        list(prompts),
        num_inference_steps=steps,
        guidance_scale=5.0,
        height=size,
        width=size,
        generator=generators,
    ).images
    return labelled_grid(images, list(prompts), columns=4)
