"""The parts of a from-scratch text-to-image model, as standard diffusers/transformers
classes so the saved folder loads with `StableDiffusionPipeline.from_pretrained`.

Two designs are presets (see PRESETS). `pixel` keeps every pixel: its AutoencoderKL
does not downsample (64 px images → 64 × 64 × 4 latents, so a 9 px star keeps its
points), and its UNet is narrow where the map is large, with cross-attention only at
16 × 16 and below; it predicts v on a zero-terminal-SNR schedule, which every A1111
sampler can run. `small` (the first shipped model) downsamples 4× to 16 × 16 × 8 and
predicts the flow velocity (noise − image), which only flow-capable solvers run.
Both use a four-layer CLIP text encoder over a word-level tokenizer of the captions'
words.

`--arch` picks the sizes: a preset or a TOML file of `Architecture` fields.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from genlab.core.errors import InvalidRequest
from genlab.engines.builtin import WORDS_FILE
from genlab.train.tokenizer import CHARACTERS, write_tokenizer_files

_WORD = re.compile(r"[a-z]+")
MAX_WORDS = 2000  # merges grow with word length; a caption vocabulary rarely needs more
# Group norms: the autoencoder uses 16 groups, the UNet 32 (see build_vae, build_unet).
_VAE_GROUPS, _UNET_GROUPS = 16, 32
PREDICTIONS = ("flow", "v")


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
    # Leading UNet levels with plain convolution (no attention): attention over a
    # 64 × 64 map costs 4096² per head, most of a step on a CPU.
    unet_plain_levels: int = 1
    # The autoencoder's mid-block self-attention; at full resolution it dominates.
    vae_attention: bool = True
    # What the UNet predicts: "flow" (velocity on straight paths, flow-sigma solvers
    # only) or "v" (v-prediction on a zero-terminal-SNR DDPM schedule, any sampler).
    prediction: str = "flow"

    def __post_init__(self) -> None:
        _check_int("resolution", self.resolution, 8, 2048)
        _check_int("max_tokens", self.max_tokens, 4, 512)
        _check_int("text_width", self.text_width, 8, 4096)
        _check_int("text_layers", self.text_layers, 1, 48)
        _check_int("text_heads", self.text_heads, 1, 64)
        _check_int("unet_heads", self.unet_heads, 1, 64)
        _check_int("layers_per_block", self.layers_per_block, 1, 4)
        _check_int("latent_channels", self.latent_channels, 1, 64)
        _check_channels("unet_channels", self.unet_channels, 2, _UNET_GROUPS)
        _check_channels("vae_channels", self.vae_channels, 1, _VAE_GROUPS)
        _check_int("unet_plain_levels", self.unet_plain_levels, 1, len(self.unet_channels) - 1)
        if not isinstance(self.vae_attention, bool):
            raise InvalidRequest("vae_attention", self.vae_attention, "must be true or false")
        if self.prediction not in PREDICTIONS:
            raise InvalidRequest(
                "prediction", self.prediction, f"must be one of {', '.join(PREDICTIONS)}"
            )
        # Attention splits a level's channels evenly between its heads.
        if any(c % self.unet_heads for c in self.unet_channels):
            raise InvalidRequest(
                "unet_heads",
                self.unet_heads,
                f"must divide every level of unet_channels {list(self.unet_channels)}",
            )
        if self.text_width % self.text_heads:
            raise InvalidRequest(
                "text_width",
                self.text_width,
                f"must be a multiple of text_heads ({self.text_heads})",
            )
        # The UNet halves its map at every level but the last, and needs whole pixels.
        step = 2 ** (len(self.vae_channels) - 1) * 2 ** (len(self.unet_channels) - 1)
        if self.resolution % step:
            raise InvalidRequest(
                "resolution",
                self.resolution,
                f"must be a multiple of {step} for {len(self.vae_channels)} autoencoder and "
                f"{len(self.unet_channels)} UNet levels",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def parameter_counts(self, vocab_size: int = 1073) -> dict[str, int]:
        """Parameters per part, built on the meta device (no weights allocated).

        1073 tokens is the shipped tokenizer (Shapes World captions)."""
        import torch

        class _Tokenizer:  # what build_text_encoder reads
            bos_token_id, eos_token_id, pad_token_id = 0, 1, 1

            def __len__(self) -> int:
                return vocab_size

        with torch.device("meta"):
            parts = {
                "text_encoder": build_text_encoder(self, _Tokenizer()),
                "vae": build_vae(self),
                "unet": build_unet(self),
            }
        return {name: sum(p.numel() for p in m.parameters()) for name, m in parts.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        """From a checkpoint's or a TOML file's dict; unknown keys are refused."""
        names = [f.name for f in fields(cls)]
        for key in data:
            if key not in names:
                raise InvalidRequest("arch", key, f"unknown key; allowed keys: {', '.join(names)}")
        data = dict(data)
        for key in ("unet_channels", "vae_channels"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        return cls(**data)

    @property
    def latent_size(self) -> int:
        return self.resolution // 2 ** (len(self.vae_channels) - 1)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is no size


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise InvalidRequest(name, value, f"must be an integer from {low} to {high}")


def _check_channels(name: str, value: object, min_levels: int, groups: int) -> None:
    """One channel count per level; each a multiple of its group norm's groups."""
    if not (
        isinstance(value, tuple)
        and min_levels <= len(value) <= 5
        and all(_is_int(c) and 0 < c <= 2048 and c % groups == 0 for c in value)
    ):
        raise InvalidRequest(
            name,
            list(value) if isinstance(value, tuple) else value,
            f"must be a list of {min_levels} to 5 channel counts, each a multiple of {groups} "
            "up to 2048",
        )


PRESETS = {
    # The shipped model, sized for a 2-core CPU: 8.62 M parameters (text encoder
    # 0.93 M, autoencoder 0.96 M, UNet 6.72 M), 34.5 MB as fp32 safetensors.
    "small": Architecture(),
    # For a GPU run: 9.80 M parameters (autoencoder 2.15 M, the rest as small), 39.2 MB
    # fp32, the most that fits the 40 MB a shipped fp32 model may take in git. The extra
    # goes to the autoencoder, whose round trip caps the small model's adherence at
    # 0.26; the latent space (16 × 16 × 8 at 64 px) stays the small model's.
    "large": Architecture(vae_channels=(48, 96, 96)),
    # No spatial downsampling in the autoencoder (64 × 64 × 4 latents: corners and
    # exact colours survive the round trip), a UNet that is 32 channels wide at
    # 64 × 64 with attention from 16 × 16 down, and v-prediction so that every
    # sampler works. See docs/models/builtin.md for the pilots behind each choice.
    "pixel": Architecture(
        vae_channels=(32,),
        latent_channels=4,
        vae_attention=False,
        unet_channels=(32, 64, 128, 128),
        unet_plain_levels=2,
        prediction="v",
    ),
}


def load_architecture(spec: str | Path) -> Architecture:
    """A preset name (`small`, `large`, `pixel`) or a TOML file of Architecture fields.

    A file may set any subset of the fields; the rest keep the `small` values."""
    if str(spec) in PRESETS:
        return PRESETS[str(spec)]
    path = Path(spec)
    if not path.is_file():
        names = ", ".join(PRESETS)
        raise InvalidRequest(
            "arch", str(spec), f"must be one of {names}, or a TOML file that exists"
        )
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise InvalidRequest("arch", str(spec), "TOML files need Python 3.11 or later") from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidRequest("arch", str(path), f"is not a TOML file ({err})") from None
    return Architecture.from_dict(data)


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
        mid_block_add_attention=arch.vae_attention,
    )


def build_unet(arch: Architecture):
    from diffusers import UNet2DConditionModel

    levels, plain = len(arch.unet_channels), arch.unet_plain_levels
    return UNet2DConditionModel(
        sample_size=arch.latent_size,
        in_channels=arch.latent_channels,
        out_channels=arch.latent_channels,
        block_out_channels=arch.unet_channels,
        layers_per_block=arch.layers_per_block,
        # Large maps are plain convolution; attention where the map is small.
        down_block_types=("DownBlock2D",) * plain + ("CrossAttnDownBlock2D",) * (levels - plain),
        up_block_types=("CrossAttnUpBlock2D",) * (levels - plain) + ("UpBlock2D",) * plain,
        cross_attention_dim=arch.text_width,
        # diffusers' historical name: this is the number of heads, not their width.
        attention_head_dim=arch.unet_heads,
        norm_num_groups=32,
    )


def build_scheduler(arch: Architecture):
    from diffusers import DPMSolverMultistepScheduler

    if arch.prediction == "v":
        # SD's betas rescaled to zero SNR at the last step (Lin et al. 2024), sampled
        # from that step ("trailing"): the model learns to draw from pure noise, so
        # dark and bright backgrounds come out as asked.
        return DPMSolverMultistepScheduler(
            num_train_timesteps=1000,
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
            prediction_type="v_prediction",
            rescale_betas_zero_snr=True,
            timestep_spacing="trailing",
            solver_order=2,
            algorithm_type="dpmsolver++",
            final_sigmas_type="zero",
            steps_offset=1,
        )
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
