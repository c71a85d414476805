"""Weighted, unlimited-length CLIP prompt embeddings, computed as AUTOMATIC1111 does.

The recipe (A1111's "original" emphasis):

1. Parse the prompt into (text, weight) fragments (`prompts.syntax.parse_fragments`) and tokenize
   each fragment without special tokens, every token keeping its fragment's weight.
2. Cut the token stream into chunks of `model_max_length - 2` tokens (75 for SD); BREAK
   closes the current chunk early. Each chunk becomes `[BOS] + tokens + [EOS]`, padded with
   the tokenizer's pad token to `model_max_length`, exactly as diffusers tokenizes.
3. Encode every chunk on its own through the text encoder and join them along the
   sequence axis, so nothing is truncated: a 200-token prompt gives 3 chunks.
4. Multiply each token's embedding by its weight, then rescale the chunk so its mean
   equals the mean before weighting. (A chunk whose mean is zero to rounding stays
   unscaled: its mean is already what it was, and the ratio would be noise.)

The positive and negative sides are padded with empty-prompt chunks to the same number of
chunks, which diffusers needs for `prompt_embeds` / `negative_prompt_embeds` (A1111 does
the same with its "pad prompt/negative prompt" option).

The mean is restored per prompt and per chunk. A1111 takes it over the whole batch; per
prompt gives the same numbers for a batch of one or of identical prompts, and keeps image i
of a batch identical to a single run of its prompt.

Why not compel (a maintained library that also weights prompts): it has its own syntax
(`word++`, `(word)1.3`), no BREAK, and its own math - weights scale the distance from
the empty-prompt embedding and down-weights blend with a prompt that lacks the words, with
no mean restore. A1111 prompts would change meaning, so the math is written here; it is
short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from genlab.core.errors import EngineError, InvalidRequest
from genlab.prompts.syntax import parse_fragments

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Below this mean-to-magnitude ratio a chunk's mean counts as zero (float32 rounding is ~1e-7).
_ZERO_MEAN = 1e-5


@dataclass
class _Chunk:
    ids: list[int]  # model_max_length ids: BOS, tokens, EOS, padding
    weights: list[float]  # one per id; 1.0 for BOS, EOS and padding


def count_tokens(tokenizer: PreTrainedTokenizerBase, text: str) -> int:
    """Tokens the prompt spends, without BOS/EOS, weight syntax or BREAK (the A1111 counter)."""
    return sum(len(ids) for ids, _, is_break in _weighted_tokens(tokenizer, text) if not is_break)


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase,
    text_encoder: PreTrainedModel,
    prompts: Sequence[str],
    negative_prompts: Sequence[str],
    *,
    device: torch.device | str | None = None,
    clip_skip: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted embeddings `(prompt_embeds, negative_prompt_embeds)`, each `(B, 77 * k, D)`.

    Both sides have the same k, so they go straight into a diffusers SD pipeline's
    `prompt_embeds=` / `negative_prompt_embeds=`. `clip_skip` counts as A1111 does: 1 is
    the last layer, 2 the one before (diffusers' `clip_skip=1`). Runs without gradients.
    """
    # 1. Check inputs
    if not prompts:
        raise InvalidRequest("prompts", list(prompts), "at least one prompt")
    if len(negative_prompts) != len(prompts):
        raise InvalidRequest(
            "negative_prompts",
            f"{len(negative_prompts)} prompts",
            f"one negative prompt per prompt ({len(prompts)})",
        )
    n_layers = text_encoder.config.num_hidden_layers
    if not 1 <= clip_skip <= n_layers:
        raise InvalidRequest("clip_skip", clip_skip, f"1 to {n_layers} (1 = last layer)")
    length = tokenizer.model_max_length
    if length > text_encoder.config.max_position_embeddings:
        raise EngineError(
            f"tokenizer model_max_length {length} exceeds the text encoder's "
            f"{text_encoder.config.max_position_embeddings} positions; set model_max_length"
        )
    device = torch.device(device) if device is not None else text_encoder.device

    # 2. Tokenize and chunk; pad both sides to the same number of chunks
    per_prompt = [_chunks(tokenizer, text) for text in [*prompts, *negative_prompts]]
    k = max(len(chunks) for chunks in per_prompt)
    empty = _finish_chunk(tokenizer, [], [])
    for chunks in per_prompt:
        chunks.extend([empty] * (k - len(chunks)))
    ids = torch.tensor([[c.ids for c in chunks] for chunks in per_prompt], device=device)
    weights = torch.tensor(
        [[c.weights for c in chunks] for chunks in per_prompt], device=device
    )  # (2B, k, T)

    # 3. Encode every chunk on its own
    n, _, t = ids.shape
    with torch.no_grad():
        z = _encode(text_encoder, ids.reshape(n * k, t), clip_skip)  # (2B*k, T, D)
    z = z.reshape(n, k, t, -1)  # (2B, k, T, D)

    # 4. Emphasis: scale each token, then restore each chunk's mean
    z = _emphasis(z.float(), weights).to(z.dtype).reshape(n, k * t, -1)  # (2B, k*T, D)

    b = len(prompts)
    return z[:b], z[b:]


def _emphasis(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Scale token embeddings `(N, k, T, D)` by `weights` `(N, k, T)`, keeping each chunk's mean."""
    before = z.mean(dim=(2, 3), keepdim=True)  # (N, k, 1, 1)
    z = z * weights.unsqueeze(-1)
    after = z.mean(dim=(2, 3), keepdim=True)
    # A chunk whose mean is zero to rounding (a final layer norm without bias, as in a
    # freshly initialised encoder) keeps a zero mean under any weights: there is nothing
    # to restore, and before/after would only amplify rounding noise into inf or NaN.
    scale_of_z = z.abs().mean(dim=(2, 3), keepdim=True)
    defined = after.abs() > _ZERO_MEAN * scale_of_z
    ratio = torch.where(defined, before / torch.where(defined, after, 1.0), 1.0)
    return z * ratio


def _encode(text_encoder: PreTrainedModel, ids: torch.Tensor, clip_skip: int) -> torch.Tensor:
    """Hidden states `(N, T, D)` of the chosen layer, through the final layer norm."""
    # CLIP was trained without an attention mask; only encoders that ask for one get it.
    mask = None
    if getattr(text_encoder.config, "use_attention_mask", False):
        mask = torch.ones_like(ids)
    if clip_skip == 1:
        return text_encoder(ids, attention_mask=mask)[0]
    out = text_encoder(ids, attention_mask=mask, output_hidden_states=True)
    # hidden_states[-1] is the last layer before the final norm, so [-clip_skip] counts back.
    return _final_layer_norm(text_encoder)(out.hidden_states[-clip_skip])


def _final_layer_norm(text_encoder: PreTrainedModel) -> torch.nn.Module:
    # transformers 5 keeps the norm on CLIPTextModel itself; 4.x under `.text_model`.
    if hasattr(text_encoder, "final_layer_norm"):
        return text_encoder.final_layer_norm
    return text_encoder.text_model.final_layer_norm


def _weighted_tokens(
    tokenizer: PreTrainedTokenizerBase, text: str
) -> list[tuple[list[int], float, bool]]:
    """(token ids, weight, is_break) per fragment; each fragment is tokenized alone."""
    frags = parse_fragments(text)
    # verbose=False: fragments longer than 77 tokens are expected here, not an error.
    ids = tokenizer(
        [f.text for f in frags], add_special_tokens=False, truncation=False, verbose=False
    ).input_ids
    return [(tok_ids, f.weight, f.is_break) for tok_ids, f in zip(ids, frags)]


def _chunks(tokenizer: PreTrainedTokenizerBase, text: str) -> list[_Chunk]:
    size = tokenizer.model_max_length - 2  # room for BOS and EOS
    chunks: list[_Chunk] = []
    ids: list[int] = []
    weights: list[float] = []
    for tok_ids, weight, is_break in _weighted_tokens(tokenizer, text):
        if is_break:
            # A BREAK always closes the chunk, even an empty one, as A1111 does.
            chunks.append(_finish_chunk(tokenizer, ids, weights))
            ids, weights = [], []
            continue
        for tok in tok_ids:
            if len(ids) == size:
                chunks.append(_finish_chunk(tokenizer, ids, weights))
                ids, weights = [], []
            ids.append(tok)
            weights.append(weight)
    if ids or not chunks:
        chunks.append(_finish_chunk(tokenizer, ids, weights))
    return chunks


def _finish_chunk(
    tokenizer: PreTrainedTokenizerBase, ids: list[int], weights: list[float]
) -> _Chunk:
    # SD 1.x tokenizers pad with EOS, SD 2.x with "!"; follow the tokenizer as diffusers does.
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    n_pad = tokenizer.model_max_length - 2 - len(ids)
    return _Chunk(
        ids=[tokenizer.bos_token_id, *ids, tokenizer.eos_token_id, *[pad] * n_pad],
        weights=[1.0, *weights, 1.0, *[1.0] * n_pad],
    )
