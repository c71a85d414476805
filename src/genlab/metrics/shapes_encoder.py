"""The `shapes` feature extractor: genlab's own Shapes World encoder, shipped in the package.

A small CNN trained from scratch on clean Shapes World renders to recognise each
scene's shapes, colours, sizes, colour-shape pairs, count, positions, relations,
background, lighting and style (see genlab.train.shapes_encoder and the model card,
docs/models/shapes-encoder.md). Its 128-D embedding is the feature. An FD on these
features is FD_shapes: it is meant for comparing Shapes World image sets offline and
is not comparable with FID or with FD on any other encoder.

Input rule, the same for every input size: the image is converted to RGB (an image
with alpha is first composited on white, Shapes World's default background), then,
unless it already is 64x64, resized to 64x64 with Pillow's BICUBIC filter and
`reducing_gap=3.0` (a box reduction by an integer factor first, then bicubic, so big
downscales stay fast and anti-aliased). The aspect ratio is not kept: Shapes World
positions are relative to width and height, so a stretched render keeps its layout.
The encoder saw renders at 64, 96 and 128 px brought to 64 by this same rule.

`load(weights, device)` reads the shipped folder, or another folder holding the same
two files (`model.safetensors`, `config.json`) written by `genlab train shapes-encoder`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.core.errors import InvalidRequest, ModelLoadError

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "shapes_encoder"


class ShapesExtractor:
    """FeatureExtractor over a loaded ShapesEncoder (see genlab.metrics.features)."""

    name = "shapes"

    def __init__(self, model, device: str, source: Path):
        from genlab.metrics.shapes_encoder_net import RESIZE_RULE

        self.model = model
        self.device = device
        self.source = source
        self.dim: int = model.config.embed_dim
        self.resize: str = RESIZE_RULE

    def features(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
        """(len(images), dim) float64 embeddings; batching does not change the values
        beyond float rounding (the network is in eval mode: no batch statistics)."""
        import torch

        from genlab.metrics.shapes_encoder_net import prepare_image, to_tensor

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidRequest("batch_size", batch_size, "must be a positive integer")
        images = list(images)
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise InvalidRequest(f"images[{i}]", type(image).__name__, "must be a PIL image")
        out = np.empty((len(images), self.dim), np.float64)
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                chunk = [prepare_image(im) for im in images[start : start + batch_size]]
                batch = to_tensor(chunk).to(self.device)  # (B, 3, 64, 64)
                emb = self.model.embedding(batch)  # (B, dim)
                out[start : start + len(chunk)] = emb.double().cpu().numpy()
        return out


def load(weights: Path | None, device: str = "cpu") -> ShapesExtractor:
    """The shipped encoder, or the one in folder `weights`, on `device`."""
    import torch
    from safetensors import SafetensorError

    from genlab.metrics.shapes_encoder_net import CONFIG_FILE, WEIGHTS_FILE, load_encoder

    folder = Path(weights) if weights is not None else SHIPPED
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InvalidRequest("device", device, f"not a torch device ({err})") from None
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise ModelLoadError(
                f"shapes encoder: {folder / name} not found; --weights must be a folder with "
                f"{CONFIG_FILE} and {WEIGHTS_FILE} as `genlab train shapes-encoder` writes"
            )
    try:
        model = load_encoder(folder)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        # safetensors, json and load_state_dict errors can span lines; keep the first.
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"shapes encoder in {folder} cannot be loaded: {reason}") from None
    return ShapesExtractor(model.to(target), str(target), folder)


def shipped_config() -> dict:
    """The shipped encoder's config.json (training settings, held-out accuracy)."""
    return json.loads((SHIPPED / "config.json").read_text())
