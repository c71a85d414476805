"""Write a real (tiny) LoRA file for a tiny pipeline folder, as a user's LoRA would be.

The LoRA is built with peft on the pipeline's own UNet with non-zero random weights
(`init_lora_weights=False`), so applying it really changes the output.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def write_tiny_lora(pipeline_dir: Path, out_file: Path, *, seed: int = 0) -> Path:
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(pipeline_dir)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=2,
        lora_alpha=2,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        init_lora_weights=False,
    )
    pipe.unet.add_adapter(config)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    with tempfile.TemporaryDirectory() as folder:
        StableDiffusionPipeline.save_lora_weights(
            folder, unet_lora_layers=layers, safe_serialization=True
        )
        out_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(folder) / "pytorch_lora_weights.safetensors", out_file)
    return out_file
