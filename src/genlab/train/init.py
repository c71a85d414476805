"""The pipeline a fine-tuning run starts from (`--init`), with one-line errors."""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.core.errors import ModelLoadError
from genlab.core.request import LoadOptions
from genlab.engines.loading import load_pipeline
from genlab.engines.sources import hub_snapshot, resolve_source


def load_init_pipeline(model: str):
    """A Stable Diffusion-family pipeline (folder, hub id or single file) in fp32."""
    source = resolve_source(model)
    location = hub_snapshot(source.location) if source.kind == "hub" else Path(source.location)
    pipe = load_pipeline(source, location, LoadOptions(), torch.float32)
    missing = [
        part
        for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
        if getattr(pipe, part, None) is None
    ]
    if missing:
        raise ModelLoadError(
            f"--init {model} is a {type(pipe).__name__} without {', '.join(missing)}; "
            "fine-tuning needs a Stable Diffusion-family text-to-image pipeline"
        )
    return pipe
