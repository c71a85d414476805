"""Reading the pretrained weight files other libraries publish (VGG-19, FID Inception).

One reader for every such file, so each network only says what it is and what file
it expects: a torch `.pth` state dict (loaded with `weights_only`, which refuses
pickled code) or a `.safetensors` file. torch loads only when a file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab.core.errors import ModelLoadError


def read_state_dict(path: Path, what: str, expected: str, not_a_dict: str = "") -> dict[str, Any]:
    """The tensors in `path`. `what` names the weights ("VGG-19 weights"), `expected`
    the file the message should ask for; `not_a_dict` is added when the file holds
    something other than a state dict."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            import torch

            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch/safetensors raise many types for a bad file
        raise ModelLoadError(
            f"{what} {path} cannot be read ({type(err).__name__}): expected {expected}"
        ) from None
    if not isinstance(state, dict):
        raise ModelLoadError(
            f"{what} {path} hold a {type(state).__name__}, not a state dict{not_a_dict}"
        )
    return state
