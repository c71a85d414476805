"""The `inception` feature extractor: pool3 features (2048-D) and class logits of FID's
Inception-v3 (TensorFlow's 2015-12-05 graph, see `inception_net`), from weights on disk.

Weights are never downloaded. Looked for, in order:
1. `--weights PATH` (a .pth state dict or .safetensors file);
2. the torch hub cache, `$TORCH_HOME/hub/checkpoints` (default `~/.cache/torch/hub/
   checkpoints`), under the names the two common libraries download to:
   pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` and torch-fidelity's (also what
   torchmetrics uses) `weights-inception-2015-12-05-6726825d.pth`. Both hold the same
   tensors under torchvision's parameter names; torch-fidelity's file lacks batch norm's
   `num_batches_tracked` counters, which inference does not use.
When none is found the error names every place searched. There is no fallback: FID
with any other network is not FID.

Preprocessing follows the reference graph, as torch-fidelity reproduces it: 8-bit RGB
values (0..255) resized to 299x299 by TensorFlow 1.x bilinear interpolation, which maps
output pixel i to input position i * in / out (no half-pixel offset, no antialiasing),
then scaled by (x - 128) / 128. pytorch-fid instead resizes [0, 1] values with torch's
half-pixel bilinear and scales by 2x - 1, so its numbers differ slightly from these.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab import pretrained
from genlab.core.errors import InvalidRequest, ModelLoadError
from genlab.metrics.inception_net import NUM_CLASSES, POOL_DIM, FIDInceptionV3

log = logging.getLogger(__name__)

NAME = "inception"
SIZE = 299  # the graph's input side
WEIGHTS_FILES = (
    "pt_inception-2015-12-05-6726825d.pth",  # pytorch-fid
    "weights-inception-2015-12-05-6726825d.pth",  # torch-fidelity, torchmetrics
)
RESIZE = (
    "TensorFlow 1.x bilinear (no half-pixel offset, no antialiasing) to 299x299 on 0..255 "
    "RGB values, then (x - 128) / 128 into [-1, 1), as the 2015-12-05 TensorFlow graph and "
    "torch-fidelity do"
)


def standard_weight_paths() -> list[Path]:
    """The cache files looked for when no path is given, in order."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return [folder / name for name in WEIGHTS_FILES]


def find_weights(weights: Path | None = None) -> Path:
    """The weights file to use: `weights` if given (it must exist), else the first
    standard cache file present; a one-line error names everything searched."""
    if weights is not None:
        if not Path(weights).is_file():
            raise ModelLoadError(f"Inception weights {weights} do not exist (or are not a file)")
        return Path(weights)
    candidates = standard_weight_paths()
    for path in candidates:
        if path.is_file():
            return path
    raise ModelLoadError(
        f"Inception weights not found: looked for {' and '.join(WEIGHTS_FILES)} in "
        f"{candidates[0].parent} (set TORCH_HOME to move it); pass --weights PATH to a "
        "pytorch-fid or torch-fidelity Inception .pth file"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a .pth or .safetensors file; one-line errors for unreadable files."""
    return pretrained.read_state_dict(
        path,
        "Inception weights",
        "a state dict saved by pytorch-fid or torch-fidelity, or a .safetensors file",
        " (TorchScript files such as clean-fid's are not supported)",
    )


def build_network(state: dict[str, torch.Tensor], path: Path) -> FIDInceptionV3:
    """FID's Inception-v3 with every tensor taken from `state`; anything missing, extra
    or misshapen is an error naming the first such key."""
    net = FIDInceptionV3()
    wanted = net.state_dict()
    state = dict(state)
    for key, value in wanted.items():
        # Counters of training steps: absent from torch-fidelity's file, unused here.
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, value)
    missing = [k for k in wanted if k not in state]
    extra = [k for k in state if k not in wanted]
    hint = "not the FID Inception (2015-12-05) weights of pytorch-fid or torch-fidelity"
    if missing:
        raise ModelLoadError(
            f"Inception weights {path} lack {len(missing)} of {len(wanted)} tensors "
            f"(first: {missing[0]}): {hint}"
        )
    if extra:
        raise ModelLoadError(
            f"Inception weights {path} hold {len(extra)} tensors the network lacks "
            f"(first: {extra[0]}): {hint}"
        )
    for key, value in wanted.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ModelLoadError(
                f"Inception weights {path}: {key} has shape {tuple(state[key].shape)}, "
                f"the network needs {tuple(value.shape)}: {hint}"
            )
    net.load_state_dict({k: v.to(wanted[k].dtype) for k, v in state.items()}, strict=True)
    return net.eval().requires_grad_(False)


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (B, C, H, W) as TensorFlow 1.x `resize_bilinear(align_corners=False)`:
    output pixel i samples input position i * in / out between its two neighbours."""
    out_h, out_w = size

    def taps(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(n_out, dtype=torch.float32, device=x.device) * (n_in / n_out)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=n_in - 1)  # the last outputs repeat the edge pixel
        return lo, hi, (pos - lo).to(x.dtype)

    # Along rows first, then columns: the order TensorFlow's kernel sums in.
    lo, hi, frac = taps(x.shape[3], out_w)
    x = x[..., lo] + (x[..., hi] - x[..., lo]) * frac  # (B, C, H, out_w)
    lo, hi, frac = taps(x.shape[2], out_h)
    frac = frac.view(1, 1, -1, 1)
    return x[:, :, lo] + (x[:, :, hi] - x[:, :, lo]) * frac  # (B, C, out_h, out_w)


def preprocess(images: Sequence[Image.Image]) -> torch.Tensor:
    """(B, 3, 299, 299) float32 network input in [-1, 1) from PIL images of any size
    (converted to RGB; an alpha channel is dropped)."""
    batch = []
    for image in images:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)  # (H, W, 3) in 0..255
        x = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)  # (1, 3, H, W)
        batch.append(resize_bilinear_tf1(x, (SIZE, SIZE)))
    return (torch.cat(batch) - 128.0) / 128.0


class InceptionExtractor:
    """FID's Inception-v3 behind the `FeatureExtractor` protocol, plus `logits`."""

    name = NAME
    dim = POOL_DIM
    num_classes = NUM_CLASSES
    resize = RESIZE

    def __init__(self, net: FIDInceptionV3, path: Path, device: str = "cpu"):
        self.net = net.to(device)
        self.path = path  # the weights file, for reports
        self.device = device

    def features_and_logits(
        self, images: Sequence[Image.Image], batch_size: int = 64, *, bias: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """pool3 features (N, 2048) and logits (N, 1008), float64, from one pass."""
        if batch_size < 1:
            raise InvalidRequest("batch_size", batch_size, "must be at least 1")
        pools, logits = [], []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                x = preprocess(images[start : start + batch_size]).to(self.device)
                pool = self.net(x)  # (B, 2048)
                pools.append(pool.double().cpu())
                logits.append(self.net.logits(pool, bias=bias).double().cpu())
        if not pools:
            return np.zeros((0, self.dim)), np.zeros((0, self.num_classes))
        return torch.cat(pools).numpy(), torch.cat(logits).numpy()

    def features(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
        """(N, 2048) float64 pool3 features: what FID and KID compare."""
        return self.features_and_logits(images, batch_size)[0]

    def logits(
        self, images: Sequence[Image.Image], batch_size: int = 64, *, bias: bool = False
    ) -> np.ndarray:
        """(N, 1008) float64 class logits for `inception_score` (which applies softmax).

        The default leaves the classifier's bias out, as the reference Inception-score
        code does; `bias=True` gives the graph's own logits.
        """
        return self.features_and_logits(images, batch_size, bias=bias)[1]


def load(weights: Path | None = None, device: str = "cpu") -> InceptionExtractor:
    """The extractor, from `weights` or the standard cache files (see module docstring)."""
    path = find_weights(weights)
    net = build_network(read_state_dict(path), path)
    log.info("Inception weights: %s", path)
    return InceptionExtractor(net, path, device)
