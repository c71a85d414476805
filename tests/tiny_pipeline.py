"""Build a tiny but real Stable Diffusion pipeline on disk, as diffusers' own tests do.

Every component is the real class at toy size after torch.manual_seed(0); the CLIP
tokenizer is written from a local vocab/merges pair, so nothing touches the network.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from genlab.train.tokenizer import write_tokenizer_files

# Enough words for the test prompts; every other word falls back to characters.
WORDS = (
    "a an the of and on in at with above below left right red green blue yellow "
    "purple orange white black pink grey cat dog circle square triangle star stars "
    "heart hexagon small large big background night noon golden hour photo painting "
    "cute sky tree house blurry ugly"
).split()


def build_tiny_pipeline(folder: Path, *, inpaint: bool = False) -> Path:
    """Save a StableDiffusionPipeline with toy-sized real components into `folder`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with tempfile.TemporaryDirectory() as tok_dir:
        write_tokenizer_files(Path(tok_dir), WORDS)
        tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=8,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8,
        norm_num_groups=2,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=2,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            hidden_size=8,
            intermediate_size=16,
            layer_norm_eps=1e-05,
            num_attention_heads=2,
            num_hidden_layers=2,
            pad_token_id=1,
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
        )
    )
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
