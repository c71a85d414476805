"""The parts of a from-scratch text-to-image model, as standard diffusers/transformers
classes so the saved folder loads with `StableDiffusionPipeline.from_pretrained`.

Shapes are chosen for a 2-core CPU: a 4× downsampling AutoencoderKL (64 px images →
16 × 16 × 8 latents), a three-level UNet with cross-attention at 8 × 8 and 4 × 4,
and a four-layer CLIP text encoder over a word-level tokenizer of the captions'
words. The scheduler is DPM-Solver++ on flow sigmas: the model predicts the velocity
(noise − image) along straight paths, which samples cleanly in few steps.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genlab.train.tokenizer import CHARACTERS, write_tokenizer_files

_WORD = re.compile(r"[a-z]+")
WORDS_FILE = "words.txt"
MAX_WORDS = 2000  # merges grow with word length; a caption vocabulary rarely needs more


@dataclass(frozen=True)
class Architecture:
    resolution: int = 64
    max_tokens: int = 32  # BOS + 30 words + EOS: Shapes World captions use about 20
    text_width: int = 128
    text_layers: int = 4
    text_heads: int = 4
    unet_channels: tuple[int, ...] = (64, 128, 128)
    unet_heads: int = 4
    layers_per_block: int = 1
    vae_channels: tuple[int, ...] = (32, 64, 64)
    latent_channels: int = 8  # 4 blurs small shapes at 4× downsampling; 8 keeps edges

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        data = dict(data)
        for key in ("unet_channels", "vae_channels"):
            data[key] = tuple(data[key])
        return cls(**data)

    @property
    def latent_size(self) -> int:
        return self.resolution // 2 ** (len(self.vae_channels) - 1)


def caption_words(captions: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """The words a tokenizer should keep whole: `extra` plus the most frequent
    caption words (letters only, as CLIP's pre-tokenizer splits them)."""
    counts = Counter(w for text in captions for w in _WORD.findall(text.lower()))
    words = dict.fromkeys(w for w in extra if set(w) <= set(CHARACTERS))
    for word, _ in counts.most_common():
        if len(words) >= MAX_WORDS:
            break
        words.setdefault(word, None)
    return list(words)


def build_tokenizer(folder: Path, words: list[str], max_tokens: int):
    from transformers import CLIPTokenizer

    write_tokenizer_files(folder, words)
    # Which words training saw, for "unknown word" warnings: the vocabulary alone also
    # holds every piece of every word, so it cannot tell "rcle" from "circle".
    (folder / WORDS_FILE).write_text("\n".join(sorted(words)) + "\n")
    tokenizer = CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_tokens
    )
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build_text_encoder(arch: Architecture, tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.text_width,
        intermediate_size=4 * arch.text_width,
        num_attention_heads=arch.text_heads,
        num_hidden_layers=arch.text_layers,
        max_position_embeddings=arch.max_tokens,
        projection_dim=arch.text_width,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def build_vae(arch: Architecture):
    from diffusers import AutoencoderKL

    levels = len(arch.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=arch.vae_channels,
        layers_per_block=1,
        latent_channels=arch.latent_channels,
        norm_num_groups=16,
        sample_size=arch.resolution,
    )


def build_unet(arch: Architecture):
    from diffusers import UNet2DConditionModel

    levels = len(arch.unet_channels)
    return UNet2DConditionModel(
        sample_size=arch.latent_size,
        in_channels=arch.latent_channels,
        out_channels=arch.latent_channels,
        block_out_channels=arch.unet_channels,
        layers_per_block=arch.layers_per_block,
        # Full resolution is plain convolution; attention where the map is small.
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",),
        cross_attention_dim=arch.text_width,
        # diffusers' historical name: this is the number of heads, not their width.
        attention_head_dim=arch.unet_heads,
        norm_num_groups=32,
    )


def build_scheduler():
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        use_flow_sigmas=True,
        prediction_type="flow_prediction",
        flow_shift=1.0,
        solver_order=2,
        algorithm_type="dpmsolver++",
        steps_offset=1,  # the value diffusers expects; 0 triggers a deprecation warning
    )


def assemble_pipeline(vae, text_encoder, tokenizer, unet, scheduler):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
