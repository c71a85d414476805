"""Prompt editing, alternation and AND in the diffusers engine (tiny real pipeline).

What the UNet is conditioned on is read at its first cross-attention's key projection,
which sees the context of every UNet call: one call per step with DPM++ 2M."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genlab import GenerationRequest
from genlab.core.errors import InvalidRequest
from genlab.engines import load_engine
from genlab.engines.conditioning import StepConditioning
from genlab.engines.diffusers_engine import DiffusersEngine
from genlab.engines.embeddings import encode_prompts

pytestmark = pytest.mark.usefixtures("one_thread_flushed")


@pytest.fixture(scope="module")
def engine(tiny_sd_dir: Path) -> DiffusersEngine:
    return load_engine(str(tiny_sd_dir))


def run(engine: DiffusersEngine, prompt: str, **fields) -> tuple[list[torch.Tensor], np.ndarray]:
    """The contexts of every UNet call, and the image."""
    contexts: list[torch.Tensor] = []
    to_k = engine.pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn2.to_k
    handle = to_k.register_forward_hook(lambda _m, args, _out: contexts.append(args[0].clone()))
    fields = {"seed": 3, "steps": 4, "guidance_scale": 5.0, **fields}
    try:
        result = engine.generate(GenerationRequest(prompt, model=engine.model, **fields))
    finally:
        handle.remove()
    return contexts, np.asarray(result.images[0], dtype=np.int16)


def embed(engine: DiffusersEngine, text: str) -> torch.Tensor:
    pipe = engine.pipe
    return encode_prompts(pipe.tokenizer, pipe.text_encoder, [text], [""])[0][0]


def test_editing_changes_the_conditioning_at_the_named_step(engine) -> None:
    contexts, _ = run(engine, "a [red:blue:2] circle")
    assert len(contexts) == 4
    red, blue = embed(engine, "a red circle"), embed(engine, "a blue circle")
    uncond = embed(engine, "")
    for step, context in enumerate(contexts):
        assert torch.allclose(context[0], uncond, atol=1e-6)  # [uncond, cond] halves
        # Sampler step i uses the first entry ending at or after i (A1111's count).
        assert torch.allclose(context[1], red if step <= 2 else blue, atol=1e-6), step


def test_alternation_swaps_every_step(engine) -> None:
    contexts, _ = run(engine, "a [red|blue] circle")
    red, blue = embed(engine, "a red circle"), embed(engine, "a blue circle")
    used = ["red" if torch.allclose(c[1], red, atol=1e-6) else "blue" for c in contexts]
    assert used == ["red", "red", "blue", "red"]
    assert not torch.allclose(red, blue)


def test_negative_prompt_is_scheduled_too(engine) -> None:
    contexts, _ = run(engine, "a circle", negative_prompt="[ugly::1]")
    ugly, empty = embed(engine, "ugly"), embed(engine, "")
    assert torch.allclose(contexts[0][0], ugly, atol=1e-6)
    assert torch.allclose(contexts[3][0], empty, atol=1e-6)


def test_and_runs_one_prediction_per_clause(engine) -> None:
    contexts, _ = run(engine, "a red circle AND a blue star:0.5")
    assert [c.shape[0] for c in contexts] == [3] * 4  # uncond, clause 1, clause 2
    assert torch.allclose(contexts[0][2], embed(engine, " a blue star"), atol=1e-6)


def test_and_weights_sum_guided_predictions(engine) -> None:
    _, single = run(engine, "a red circle")
    _, halves = run(engine, "a red circle:0.5 AND a red circle:0.5")
    _, double = run(engine, "a red circle:2")
    # 0.5 * (c - u) twice is c - u: the same image, up to float rounding.
    assert np.abs(halves - single).max() <= 1
    assert np.abs(double - single).max() > 1


def test_and_combination_is_a1111s_weighted_sum() -> None:
    """The wrapper's arithmetic, with a stand-in UNet whose prediction is the context mean."""
    table = {"": 0.0, "a": 1.0, "b": 3.0}

    def encode(texts):
        return torch.stack([torch.full((2, 1), table[t.strip()]) for t in texts])

    steps = StepConditioning(["a AND b:0.25"], [""], 2, encode)

    def unet(sample, timestep, encoder_hidden_states, **kw):
        return (sample * 0 + encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1, 1),)

    sample = torch.zeros(2, 1, 1, 1)  # [uncond, cond] halves, batch of 1
    out = steps._predict(unet, sample, torch.tensor(5))
    # uncond 0; clause predictions 1 and 3 -> 0 + 1 * (1 - 0) + 0.25 * (3 - 0) = 1.75
    assert out.flatten().tolist() == [0.0, 1.75]


def test_plain_prompts_keep_the_pipelines_own_path(engine) -> None:
    contexts, _ = run(engine, "a [red] (circle:1.2) [blue:green")
    assert [c.shape[0] for c in contexts] == [2] * 4


def test_clip_skip_changes_the_conditioning_and_is_recorded(engine) -> None:
    contexts, _ = run(engine, "a red circle", clip_skip=2)
    assert not torch.allclose(contexts[0][1], embed(engine, "a red circle"))
    result = engine.generate(
        GenerationRequest("a red circle", model=engine.model, seed=1, steps=1, clip_skip=2)
    )
    assert result.extra_params["Clip skip"] == 2


def test_too_many_and_clauses_are_refused(engine) -> None:
    prompt = " AND ".join(["a red circle"] * 9)
    with pytest.raises(InvalidRequest, match="at most 8 AND clauses, not 9"):
        engine.generate(GenerationRequest(prompt, model=engine.model, seed=1, steps=1))


def test_and_clauses_count_in_the_memory_check(tiny_sd_dir: Path) -> None:
    from genlab.engines.memory import activation_bytes

    probe = load_engine(str(tiny_sd_dir))
    # Room for the [uncond, cond] batch of one image, not for four clauses' predictions.
    budget = activation_bytes(probe.pipe, 16, 16, 1, cfg=True) + 1
    tight = DiffusersEngine(str(tiny_sd_dir), memory_budget=budget)
    fields = {"model": tight.model, "seed": 1, "steps": 1}
    tight.generate(GenerationRequest("a red circle", **fields))
    with pytest.raises(InvalidRequest, match="GiB"):
        tight.generate(GenerationRequest("a AND b AND c AND d", **fields))


def test_too_many_different_step_texts_are_refused_before_encoding() -> None:
    encoded: list[list[str]] = []

    def encode(texts):
        encoded.append(texts)
        return torch.zeros(len(texts), 1, 1)

    # Alternations of 2, 3, 5 and 7 options repeat only every 210 steps: 210 texts.
    prompt = "[a|b] [c|d|e] [f|g|h|i|j] [k|l|m|n|o|p|q]"
    StepConditioning([prompt], [""], 210, encode)
    with pytest.raises(InvalidRequest, match="at most 256"):
        StepConditioning([prompt + " [r|s|t|u|v|w|x|y|z|ab|cd]"], [""], 1000, encode)
    assert len(encoded) == 1
