"""Per-step conditioning for a diffusers pipeline: prompt editing, alternation, `AND`.

A1111's prompt language (`genlab.prompts.schedule`) makes the text depend on the
sampler step and splits it into weighted clauses. diffusers pipelines take one
`prompt_embeds` for the whole run, so this wraps the UNet's forward for the duration
of a call and feeds it each step's embeddings; a step-end callback advances the step.

Composable diffusion is computed as A1111 does (CFGDenoiser.combine_denoised):

    eps = uncond + scale * sum_k w_k * (cond_k - uncond)

The pipeline itself applies `uncond + scale * (text - uncond)`, so the wrapper returns
`text = uncond + sum_k w_k * (cond_k - uncond)` for the positive half: exactly the sum
above, with every pipeline option (guidance rescale, img2img, blending) left as is.
A single clause of weight 1 runs the UNet on the pipeline's own [uncond, cond] batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from genlab.core.errors import InvalidRequest
from genlab.prompts.schedule import schedule, split_and, text_at

MAX_STEP_TEXTS = 256
StepEnd = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]
Encode = Callable[[list[str]], torch.Tensor]  # texts -> (N, L, D), one L for all


def is_dynamic(prompts: Sequence[str], negatives: Sequence[str], steps: int) -> bool:
    """Whether any prompt needs per-step conditioning (editing, alternation, AND)."""
    for prompt in prompts:
        clauses = split_and(prompt)
        if len(clauses) > 1 or clauses[0][1] != 1.0 or len(schedule(clauses[0][0], steps)) > 1:
            return True
    return any(len(schedule(negative, steps)) > 1 for negative in negatives)


class StepConditioning:
    """Each sampler step's uncond and weighted clause embeddings for a batch."""

    def __init__(
        self, prompts: Sequence[str], negatives: Sequence[str], steps: int, encode: Encode
    ):
        self.steps = steps
        self.step = 0  # sampler step (from 0) the next UNet call belongs to
        clauses = [
            [(schedule(text, steps), weight) for text, weight in split_and(p)] for p in prompts
        ]
        self.negatives = [schedule(n, steps) for n in negatives]
        self.clauses = clauses
        self.width = max(len(c) for c in clauses)  # clauses per image; fewer get weight 0
        texts = {t for entries in self.negatives for _, t in entries}
        texts |= {t for c in clauses for entries, _ in c for _, t in entries}
        if len(texts) > MAX_STEP_TEXTS:
            # Every distinct text is encoded: a few alternations over many steps can ask
            # for hundreds, each as long as a prompt may be.
            raise InvalidRequest(
                "prompt",
                prompts[0],
                f"editing and alternation make {len(texts)} different texts over "
                f"{steps} steps; at most {MAX_STEP_TEXTS}",
            )
        order = sorted(texts)
        embeds = encode(order)
        self.embeds = {text: embeds[i] for i, text in enumerate(order)}  # text -> (L, D)
        self.composable = self.width > 1 or any(w != 1.0 for c in clauses for _, w in c)

    def at(self, index: int) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """(uncond (B, L, D), [(cond_k (B, L, D), weight_k (B,))]) for sampler step index."""
        uncond = torch.stack([self.embeds[text_at(n, index)] for n in self.negatives])
        clauses = []
        for k in range(self.width):
            embeds, weights = [], []
            for b, image_clauses in enumerate(self.clauses):
                if k < len(image_clauses):
                    entries, weight = image_clauses[k]
                    embeds.append(self.embeds[text_at(entries, index)])
                    weights.append(weight)
                else:  # an image with fewer clauses: a zero-weight copy of uncond
                    embeds.append(uncond[b])
                    weights.append(0.0)
            clauses.append((torch.stack(embeds), torch.tensor(weights)))
        return uncond, clauses

    def start(self) -> dict[str, torch.Tensor]:
        """The pipeline's prompt arguments: step 0's first clause (fixes batch and dtype)."""
        uncond, clauses = self.at(0)
        return {"prompt_embeds": clauses[0][0], "negative_prompt_embeds": uncond}

    def callback(self, then: StepEnd | None) -> StepEnd:
        """A step-end callback that moves to the next sampler step, then runs `then`."""

        def step_end(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict:
            # Second-order samplers (Heun, DPM2) call the loop twice per step.
            self.step = (index + 1) // max(int(getattr(pipe.scheduler, "order", 1)), 1)
            return then(pipe, index, timestep, tensors) if then is not None else tensors

        return step_end

    @contextlib.contextmanager
    def patched(self, unet: Any) -> Iterator[None]:
        """`unet` predicts with this step's conditioning while the block runs."""
        original = unet.forward
        had_own = "forward" in vars(unet)  # an accelerate offload hook sets one

        def forward(sample: torch.Tensor, timestep: Any, encoder_hidden_states: Any, **kw: Any):
            out = self._predict(original, sample, timestep, **kw)
            if kw.get("return_dict", True):
                from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

                return UNet2DConditionOutput(sample=out)
            return (out,)

        unet.forward = forward
        try:
            yield
        finally:
            if had_own:
                unet.forward = original
            else:
                del unet.forward  # the class's forward shows again

    def _predict(self, original: Any, sample: torch.Tensor, timestep: Any, **kw: Any):
        uncond, clauses = self.at(min(self.step, self.steps - 1))
        b = uncond.shape[0]
        cfg = sample.shape[0] == 2 * b  # the pipeline's [uncond, cond] halves
        dtype, device = sample.dtype, sample.device
        kw["return_dict"] = False
        if not self.composable:
            cond = clauses[0][0]
            context = torch.cat([uncond, cond]) if cfg else cond
            return original(
                sample, timestep, encoder_hidden_states=context.to(device, dtype), **kw
            )[0]
        latents = sample[b:] if cfg else sample  # both halves hold the same latents
        n = 1 + len(clauses)
        context = torch.cat([uncond, *(c for c, _ in clauses)]).to(device, dtype)  # (n*B, L, D)
        if torch.is_tensor(timestep) and timestep.ndim > 0 and timestep.shape[0] == sample.shape[0]:
            timestep = timestep[:b].repeat(n)
        eps = original(latents.repeat(n, 1, 1, 1), timestep, encoder_hidden_states=context, **kw)[0]
        eps_uncond, *eps_conds = eps.chunk(n)
        text = eps_uncond.clone()
        for eps_k, (_, weight) in zip(eps_conds, clauses):
            text += (eps_k - eps_uncond) * weight.to(device, dtype).view(-1, 1, 1, 1)
        return torch.cat([eps_uncond, text]) if cfg else text
