from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genlab.core.errors import InvalidRequest
from genlab.engines.embeddings import count_tokens, encode_prompts

T = 77  # the tiny tokenizer's model_max_length


def load(folder: Path):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe(tiny_sd_dir: Path):
    """The tiny pipeline with a trained-looking final layer norm.

    A freshly initialised LayerNorm has zero bias, so every token embedding has mean 0
    and A1111's mean restore has nothing to work on; trained CLIP encoders have a bias.
    """
    pipe = load(tiny_sd_dir)
    with torch.no_grad():
        pipe.text_encoder.final_layer_norm.bias.copy_(torch.linspace(-0.2, 0.6, 8))
    return pipe


def encode(pipe, prompts, negatives, **kwargs):
    return encode_prompts(pipe.tokenizer, pipe.text_encoder, prompts, negatives, **kwargs)


def diffusers_embeds(pipe, prompt: str, negative: str):
    with torch.no_grad():
        return pipe.encode_prompt(prompt, "cpu", 1, True, negative_prompt=negative)


def test_unweighted_prompt_equals_diffusers(pipe) -> None:
    pos, neg = encode(pipe, ["a red cat on the grass"], ["blurry ugly"])
    ref_pos, ref_neg = diffusers_embeds(pipe, "a red cat on the grass", "blurry ugly")
    assert pos.shape == ref_pos.shape == (1, T, 8)
    torch.testing.assert_close(pos, ref_pos, rtol=0, atol=1e-6)
    torch.testing.assert_close(neg, ref_neg, rtol=0, atol=1e-6)


def test_clip_skip_counts_like_a1111(pipe) -> None:
    pos, _ = encode(pipe, ["a blue star"], [""], clip_skip=2)
    # What diffusers does for its clip_skip=1: the layer before last, then the final norm.
    ids = pipe.tokenizer(
        "a blue star", padding="max_length", max_length=T, return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
        ref_pos = pipe.text_encoder.final_layer_norm(hidden)
    torch.testing.assert_close(pos, ref_pos, rtol=0, atol=1e-6)
    last, _ = encode(pipe, ["a blue star"], [""])
    assert not torch.allclose(pos, last)


def test_weights_change_only_their_tokens_and_keep_the_mean(pipe) -> None:
    plain, _ = encode(pipe, ["a red cat"], [""])
    weighted, _ = encode(pipe, ["a (red:1.5) cat"], [""])
    # Token 0 is BOS, token 1 "a", token 2 "red": only that row is scaled beyond the
    # uniform factor that restores the mean.
    ratio = weighted[0] / plain[0]  # (T, D)
    factor = ratio[0, 0]
    assert factor != pytest.approx(1.0)
    expected = torch.full_like(ratio, float(factor))
    expected[2] = 1.5 * factor
    torch.testing.assert_close(ratio, expected, rtol=1e-4, atol=1e-4)
    assert float(weighted.mean()) == pytest.approx(float(plain.mean()), rel=1e-5)


def test_zero_mean_encoder_weights_without_rescale(tiny_sd_dir: Path) -> None:
    fresh = load(tiny_sd_dir)  # final norm bias 0: every token's mean is 0
    plain, _ = encode(fresh, ["a red cat"], [""])
    weighted, _ = encode(fresh, ["a (red:1.5) cat"], [""])
    expected = plain.clone()
    expected[0, 2] *= 1.5
    torch.testing.assert_close(weighted, expected, rtol=1e-5, atol=1e-6)


def test_downweight_and_brackets(pipe) -> None:
    plain, _ = encode(pipe, ["a red cat"], [""])
    down, _ = encode(pipe, ["a [red] cat"], [""])
    ratio = down[0] / plain[0]
    torch.testing.assert_close(ratio[2] / ratio[0], torch.full((8,), 1 / 1.1), rtol=1e-4, atol=1e-4)


def test_long_prompt_is_not_truncated(pipe) -> None:
    prompt = " ".join(["red"] * 200)
    assert count_tokens(pipe.tokenizer, prompt) == 200
    pos, neg = encode(pipe, [prompt], ["blurry"])
    assert pos.shape == neg.shape == (1, 3 * T, 8)
    # Exactly 75 tokens still fit one chunk; 76 need two.
    assert encode(pipe, [" ".join(["red"] * 75)], [""])[0].shape[1] == T
    assert encode(pipe, [" ".join(["red"] * 76)], [""])[0].shape[1] == 2 * T


def test_each_chunk_is_encoded_on_its_own(pipe) -> None:
    first = " ".join(["red"] * 75)
    pos, _ = encode(pipe, [f"{first} blue cat"], [""])
    alone, _ = encode(pipe, ["blue cat"], [""])
    torch.testing.assert_close(pos[:, T:], alone, rtol=0, atol=1e-6)


def test_break_starts_a_new_chunk(pipe) -> None:
    pos, _ = encode(pipe, ["a red cat BREAK a blue dog"], [""])
    assert pos.shape[1] == 2 * T
    first, _ = encode(pipe, ["a red cat"], [""])
    second, _ = encode(pipe, ["a blue dog"], [""])
    torch.testing.assert_close(pos, torch.cat([first, second], dim=1), rtol=0, atol=1e-6)
    # A trailing BREAK adds no empty chunk; a leading one does.
    assert encode(pipe, ["a red cat BREAK"], [""])[0].shape[1] == T
    assert encode(pipe, ["BREAK a red cat"], [""])[0].shape[1] == 2 * T
    assert count_tokens(pipe.tokenizer, "a red cat BREAK a blue dog") == count_tokens(
        pipe.tokenizer, "a red cat a blue dog"
    )


def test_positive_and_negative_padded_to_equal_chunks(pipe) -> None:
    long = " ".join(["red"] * 100)
    pos, neg = encode(pipe, ["a cat", long], ["blurry", "ugly"])
    assert pos.shape == neg.shape == (2, 2 * T, 8)
    # The short prompts are padded with empty-prompt chunks.
    empty, _ = encode(pipe, [""], [""])
    torch.testing.assert_close(pos[0, T:], empty[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(neg[1, T:], empty[0], rtol=0, atol=1e-6)
    single, _ = encode(pipe, ["a cat"], [""])
    torch.testing.assert_close(pos[0, :T], single[0], rtol=0, atol=1e-6)
    pos, neg = encode(pipe, ["a cat"], [long])
    assert pos.shape == neg.shape == (1, 2 * T, 8)


def test_bad_inputs_raise(pipe) -> None:
    with pytest.raises(InvalidRequest, match="negative_prompts"):
        encode(pipe, ["a", "b"], ["c"])
    with pytest.raises(InvalidRequest, match="prompts"):
        encode(pipe, [], [])
    with pytest.raises(InvalidRequest, match="clip_skip"):
        encode(pipe, ["a"], [""], clip_skip=3)


def test_pipeline_runs_with_the_embeddings(pipe) -> None:
    long = "a (red:1.3) cat BREAK " + " ".join(["blue"] * 80)
    pos, neg = encode(pipe, [long, "a [green] dog"], ["blurry", ""])
    out = pipe(
        prompt_embeds=pos,
        negative_prompt_embeds=neg,
        num_inference_steps=2,
        height=16,
        width=16,
        guidance_scale=5.0,
        generator=torch.Generator("cpu").manual_seed(0),
        output_type="np",
    )
    assert out.images.shape == (2, 16, 16, 3)
    assert torch.isfinite(torch.from_numpy(out.images)).all()


def test_batch_entry_matches_single_prompt(pipe) -> None:
    batch, _ = encode(pipe, ["a (red) cat", "a (blue:0.7) dog"], ["", "blurry"])
    alone, _ = encode(pipe, ["a (blue:0.7) dog"], ["blurry"])
    torch.testing.assert_close(batch[1:], alone, rtol=0, atol=1e-6)
