"""The `clip` feature extractor: CLIP image embeddings (and text embeddings for CLIP score)
with `transformers.CLIPModel`, from weights already on disk.

Weights are never downloaded. Looked for, in order:
1. `--weights DIR`: a folder saved by `save_pretrained` holding the model, its tokenizer
   and `preprocessor_config.json` (or a hub id such as `openai/clip-vit-large-patch14`,
   read from the Hugging Face cache only);
2. the Hugging Face cache (`HF_HOME` / `HF_HUB_CACHE` move it) for
   `openai/clip-vit-base-patch32`, then `openai/clip-vit-large-patch14`.
Loading always passes `local_files_only=True`, so it behaves the same with
`HF_HUB_OFFLINE=1`. When nothing is found the error names what was searched.

Features are the projected image embeddings (`get_image_features`, dim = the model's
projection dim), not normalised: FD on them needs the raw vectors, cosine scores
normalise for themselves. Images go through the checkpoint's own image processor (see
`resize`; transformers' PIL version where it has one, as OpenAI's CLIP resizes with PIL).
Numbers differ between CLIP models; report `source` beside them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genlab.core.errors import InvalidRequest, ModelLoadError

log = logging.getLogger(__name__)

NAME = "clip"
HUB_IDS = ("openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14")


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _cached_config(repo_id: str) -> Path | None:
    """config.json of `repo_id` in the Hugging Face cache, or None; never downloads."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return Path(found) if isinstance(found, str) else None


def find_model(weights: Path | str | None = None) -> tuple[str, Path]:
    """(source to load from, its config.json): a folder, or a hub id found in the cache."""
    if weights is not None:
        folder = Path(weights)
        if folder.is_dir():
            if not (folder / "config.json").is_file():
                raise ModelLoadError(
                    f"CLIP weights folder {folder} has no config.json: expected a CLIPModel "
                    "folder saved with save_pretrained, with its tokenizer and image processor"
                )
            return str(folder), folder / "config.json"
        repo_id = str(weights)
        if repo_id.count("/") == 1 and not folder.is_absolute():
            config = _cached_config(repo_id)
            if config is not None:
                return repo_id, config
        raise ModelLoadError(
            f"CLIP weights {weights} are neither a folder nor a model in the Hugging Face "
            f"cache {_hub_cache()}: pass --weights DIR with a saved CLIPModel folder"
        )
    for repo_id in HUB_IDS:
        config = _cached_config(repo_id)
        if config is not None:
            return repo_id, config
    raise ModelLoadError(
        f"CLIP weights not found: neither {' nor '.join(HUB_IDS)} is in the Hugging Face "
        f"cache {_hub_cache()}; pass --weights DIR with a saved CLIPModel folder "
        "(model, tokenizer and preprocessor_config.json)"
    )


def _image_processor(source: str) -> Any:
    # transformers 5 splits CLIP's processor into a torchvision and a PIL version; the
    # PIL one resizes as OpenAI's CLIP does. transformers 4 has only the PIL-based one.
    try:
        from transformers import CLIPImageProcessorPil as Processor
    except ImportError:
        from transformers import CLIPImageProcessor as Processor
    return Processor.from_pretrained(source, local_files_only=True)


def _size_field(size: Any, key: str) -> int | None:
    return size.get(key) if isinstance(size, dict) else getattr(size, key, None)


def describe_preprocessing(processor: Any) -> str:
    """One sentence saying how `processor` brings an image to the model's input."""
    steps = []
    resample = Image.Resampling(int(processor.resample)).name.lower()
    if processor.do_resize:
        short = _size_field(processor.size, "shortest_edge")
        if short:
            steps.append(f"shortest side to {short} px ({resample})")
        else:
            h, w = _size_field(processor.size, "height"), _size_field(processor.size, "width")
            steps.append(f"resize to {h}x{w} ({resample})")
    if processor.do_center_crop:
        h, w = _size_field(processor.crop_size, "height"), _size_field(processor.crop_size, "width")
        steps.append(f"centre crop {h}x{w}")
    if processor.do_normalize:
        steps.append("0..1 values normalised by CLIP's channel mean and std")
    return "the checkpoint's CLIP image processor: " + ", ".join(steps)


def _pooled(output: Any) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output is the projected
    # embedding; transformers 4 returns that tensor itself.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipExtractor:
    """CLIP behind the `FeatureExtractor` protocol, plus `text_features` for prompts."""

    name = NAME

    def __init__(self, model: Any, processor: Any, tokenizer: Any, source: str, device: str):
        self.model = model.to(device)
        self.processor = processor
        self.tokenizer = tokenizer
        self.source = source  # folder or hub id, for reports
        self.device = device
        self.dim = int(model.config.projection_dim)
        self.resize = describe_preprocessing(processor)
        # Position embeddings bound the prompt length (77 tokens for OpenAI's CLIP).
        self.context_length = int(model.config.text_config.max_position_embeddings)

    def features(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
        """(N, dim) float64 projected image embeddings, not normalised."""
        _check_batch_size(batch_size)
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = [image.convert("RGB") for image in images[start : start + batch_size]]
                pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
                embeds = _pooled(self.model.get_image_features(pixel_values=pixels.to(self.device)))
                out.append(embeds.double().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.dim))

    def text_features(
        self, prompts: Sequence[str], batch_size: int = 64
    ) -> tuple[np.ndarray, list[int]]:
        """(N, dim) float64 projected text embeddings, and the indices of prompts longer
        than the context (those are truncated to it, with a warning)."""
        _check_batch_size(batch_size)
        limit = self.context_length
        # One token over the limit is enough to tell which prompts do not fit.
        lengths = self.tokenizer(list(prompts), truncation=True, max_length=limit + 1)
        truncated = [i for i, ids in enumerate(lengths["input_ids"]) if len(ids) > limit]
        if truncated:
            log.warning(
                "%d of %d prompts are longer than CLIP's %d tokens and were truncated "
                "(first: prompt %d)",
                len(truncated),
                len(prompts),
                limit,
                truncated[0],
            )
        out = []
        with torch.inference_mode():
            for start in range(0, len(prompts), batch_size):
                tokens = self.tokenizer(
                    list(prompts[start : start + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=limit,
                    return_tensors="pt",
                ).to(self.device)
                embeds = _pooled(
                    self.model.get_text_features(
                        input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
                    )
                )
                out.append(embeds.double().cpu())
        return (torch.cat(out).numpy() if out else np.zeros((0, self.dim))), truncated


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidRequest("batch_size", batch_size, "must be at least 1")


def load(weights: Path | str | None = None, device: str = "cpu") -> ClipExtractor:
    """The extractor, from `weights` or the Hugging Face cache (see module docstring)."""
    from transformers import CLIPModel, CLIPTokenizer

    source, config_path = find_model(weights)
    model_type = json.loads(config_path.read_text()).get("model_type")
    if model_type != "clip":
        raise ModelLoadError(
            f"CLIP weights {source} hold a {model_type!r} model, not 'clip' (CLIPModel)"
        )
    try:
        model = CLIPModel.from_pretrained(source, local_files_only=True)
        tokenizer = CLIPTokenizer.from_pretrained(source, local_files_only=True)
        processor = _image_processor(source)
    except (OSError, ValueError) as err:  # a file missing from the folder or cache
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ModelLoadError(
            f"CLIP weights {source} are incomplete ({type(err).__name__}: {first_line}); "
            "the folder needs the model, tokenizer and preprocessor_config.json"
        ) from None
    log.info("CLIP weights: %s", source)
    return ClipExtractor(
        model.float().eval().requires_grad_(False), processor, tokenizer, source, device
    )
