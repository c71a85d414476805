"""Write a diffusers SD 1.x pipeline folder as one original-layout checkpoint file.

Checkpoints shared for AUTOMATIC1111 keep the key layout of the original CompVis
latent-diffusion code: the UNet under `model.diffusion_model.`, the VAE under
`first_stage_model.` and the CLIP text encoder under `cond_stage_model.transformer.`.
No such file exists offline, so the tests make one from the tiny pipeline by running
diffusers' single-file conversion (`convert_ldm_unet_checkpoint`,
`convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`) backwards. Every rule is
derived from the component's config, so it holds for the toy layout and for SD 1.x.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."

# Top-level UNet layers that are simply renamed.
UNET_LAYERS = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}

# Inside a UNet resnet the original code names layers by their place in a Sequential.
UNET_RESNET_LAYERS = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}

# Top-level VAE layers (per encoder/decoder) that are simply renamed.
VAE_LAYERS = {"conv_norm_out": "norm_out"}

# The VAE mid-block attention: diffusers' Attention names vs the original AttnBlock's.
VAE_ATTENTION_LAYERS = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def write_original_sd_checkpoint(pipeline_dir: Path, out_file: Path) -> Path:
    """Save `pipeline_dir`'s UNet, VAE and text encoder as one original-layout
    `.safetensors` file, as an SD 1.x checkpoint made for AUTOMATIC1111 would be."""
    from safetensors.torch import save_file

    unet, unet_config = _component(pipeline_dir / "unet")
    vae, vae_config = _component(pipeline_dir / "vae")
    clip, _ = _component(pipeline_dir / "text_encoder")

    checkpoint = {}
    checkpoint.update(_prefixed(UNET_PREFIX, unet_to_ldm(unet, unet_config)))
    checkpoint.update(_prefixed(VAE_PREFIX, vae_to_ldm(vae, vae_config)))
    checkpoint.update(_prefixed(CLIP_PREFIX, clip_to_ldm(clip)))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses tensors that share memory or are views; store plain copies.
    save_file({k: v.contiguous().clone() for k, v in checkpoint.items()}, str(out_file))
    return out_file


# -- UNet ----------------------------------------------------------------------------------


def unet_to_ldm(state: dict, config: dict) -> dict:
    """Rename a diffusers UNet2DConditionModel state dict to the original layout.

    The original UNet is three flat lists of blocks, each a Sequential of layers:
    - `input_blocks`: 0 is conv_in; then, per down block, one entry per layer
      (`.0` resnet, `.1` transformer) and, after every down block but the last,
      one entry whose `.0.op` is the downsampling conv.
    - `middle_block`: resnet (0), transformer (1), resnet (2).
    - `output_blocks`: per up block, layers_per_block + 1 entries (`.0` resnet,
      `.1` transformer); the last entry of every up block but the last also holds
      the upsampler, right after the layers it has (`.1.conv` or `.2.conv`).
    """
    per_block = config["layers_per_block"]
    if not isinstance(per_block, int):
        raise ValueError("only a single layers_per_block for every block is supported")
    names: dict[str, str] = dict(UNET_LAYERS)

    # Down blocks: diffusers module prefix -> original module prefix.
    index = 1
    for block in range(len(config["down_block_types"])):
        for layer in range(per_block):
            names[f"down_blocks.{block}.resnets.{layer}"] = f"input_blocks.{index}.0"
            names[f"down_blocks.{block}.attentions.{layer}"] = f"input_blocks.{index}.1"
            index += 1
        if block < len(config["down_block_types"]) - 1:
            names[f"down_blocks.{block}.downsamplers.0.conv"] = f"input_blocks.{index}.0.op"
            index += 1

    names["mid_block.resnets.0"] = "middle_block.0"
    names["mid_block.attentions.0"] = "middle_block.1"
    names["mid_block.resnets.1"] = "middle_block.2"

    # Up blocks. Whether an up block has attentions decides where its upsampler sits.
    index = 0
    up_blocks = config["up_block_types"]
    for block, kind in enumerate(up_blocks):
        has_attention = "CrossAttn" in kind
        for layer in range(per_block + 1):
            names[f"up_blocks.{block}.resnets.{layer}"] = f"output_blocks.{index}.0"
            names[f"up_blocks.{block}.attentions.{layer}"] = f"output_blocks.{index}.1"
            if layer == per_block and block < len(up_blocks) - 1:
                position = 2 if has_attention else 1
                names[f"up_blocks.{block}.upsamplers.0.conv"] = (
                    f"output_blocks.{index}.{position}.conv"
                )
            index += 1

    converted = {}
    for key, tensor in state.items():
        module, rest = _split_module(key, names)
        if ".resnets." in module:
            # Resnet layers are renamed too; transformer blocks keep diffusers' names,
            # which are the original SpatialTransformer's own.
            layer, _, param = rest.partition(".")
            rest = f"{UNET_RESNET_LAYERS[layer]}.{param}"
        converted[f"{names[module]}.{rest}" if rest else names[module]] = tensor
    return converted


# -- VAE -----------------------------------------------------------------------------------


def vae_to_ldm(state: dict, config: dict) -> dict:
    """Rename a diffusers AutoencoderKL state dict to the original layout.

    - Encoder down block i is `encoder.down.i` (`block.j` resnets, `downsample.conv`).
    - Decoder up block i is `decoder.up.{n-1-i}`: the original numbers up blocks
      from the lowest resolution to the highest, diffusers in the order they run.
    - Mid blocks are `mid.block_1`, `mid.attn_1`, `mid.block_2`.
    - Resnet shortcuts are `nin_shortcut`; the mid attention's q/k/v/proj_out are
      1x1 convs in the original, so their (C, C) linear weights become (C, C, 1, 1).
    """
    names: dict[str, str] = {}
    for part in ("encoder", "decoder"):
        for diffusers_name, original_name in VAE_LAYERS.items():
            names[f"{part}.{diffusers_name}"] = f"{part}.{original_name}"
        names[f"{part}.mid_block.resnets.0"] = f"{part}.mid.block_1"
        names[f"{part}.mid_block.resnets.1"] = f"{part}.mid.block_2"
        names[f"{part}.mid_block.attentions.0"] = f"{part}.mid.attn_1"

    per_block = config["layers_per_block"]
    down_blocks = len(config["down_block_types"])
    for block in range(down_blocks):
        for layer in range(per_block):
            names[f"encoder.down_blocks.{block}.resnets.{layer}"] = (
                f"encoder.down.{block}.block.{layer}"
            )
        names[f"encoder.down_blocks.{block}.downsamplers.0.conv"] = (
            f"encoder.down.{block}.downsample.conv"
        )
    up_blocks = len(config["up_block_types"])
    for block in range(up_blocks):
        original = up_blocks - 1 - block
        for layer in range(per_block + 1):
            names[f"decoder.up_blocks.{block}.resnets.{layer}"] = (
                f"decoder.up.{original}.block.{layer}"
            )
        names[f"decoder.up_blocks.{block}.upsamplers.0.conv"] = (
            f"decoder.up.{original}.upsample.conv"
        )

    converted = {}
    for key, tensor in state.items():
        module, rest = _split_module(key, names, default_whole=True)
        if ".resnets." in module:
            rest = rest.replace("conv_shortcut.", "nin_shortcut.")
        elif ".attentions." in module:
            layer, _, param = rest.rpartition(".")
            rest = f"{VAE_ATTENTION_LAYERS[layer]}.{param}"
            if param == "weight" and layer != "group_norm":
                tensor = tensor[:, :, None, None]  # linear (C, C) -> conv 1x1 (C, C, 1, 1)
        original_module = names.get(module, module)
        converted[f"{original_module}.{rest}" if rest else original_module] = tensor
    return converted


# -- CLIP text encoder ---------------------------------------------------------------------


def clip_to_ldm(state: dict) -> dict:
    """The original keeps transformers' CLIPTextModel keys under `text_model.`; recent
    transformers versions save them without that level, so put it back."""
    return {
        key if key.startswith("text_model.") else f"text_model.{key}": t for key, t in state.items()
    }


# -- helpers -------------------------------------------------------------------------------


def _component(folder: Path) -> tuple[dict, dict]:
    """A saved component's weights (every safetensors shard) and its config."""
    from safetensors.torch import load_file

    state: dict = {}
    for file in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(file)))
    if not state:
        raise FileNotFoundError(f"no .safetensors weights in {folder}")
    return state, json.loads((folder / "config.json").read_text())


def _split_module(
    key: str, names: dict[str, str], *, default_whole: bool = False
) -> tuple[str, str]:
    """Split `key` into the longest module prefix found in `names` and the rest.

    A key no rule covers is an error, so a layout this converter does not know
    fails loudly instead of writing a file diffusers would half-load. With
    `default_whole`, such a key is kept as it is (VAE layers whose names agree).
    """
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        if module in names:
            return module, ".".join(parts[cut:])
    if default_whole and not re.search(r"\.(down_blocks|up_blocks|mid_block)\.", key):
        module, _, param = key.rpartition(".")
        return module, param
    raise KeyError(f"no original-layout name for {key!r}")


def _prefixed(prefix: str, state: dict) -> dict:
    return {prefix + key: tensor for key, tensor in state.items()}
