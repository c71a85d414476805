"""Neural style transfer: Gatys, Ecker & Bethge (2015) on VGG-19 features.

An image is optimised so that its deep features (relu4_2) match the content image's
and the Gram matrices of its features at relu1_1…relu5_1 match the style image's,
with a total-variation term against pixel noise. Coarse to fine (Gatys et al. 2017):
the first scale runs at 1/2^(scales-1) of the output size, and each result, upsampled,
starts the next scale, so the costly full-resolution passes only add detail.

    result = stylize(open_image(content), open_image(style), StyleConfig(size=512))

Options beyond the paper:
- `preserve_colours`: luminance-only transfer (Gatys et al. 2016, "Preserving colour
  in neural artistic style transfer"): the network sees only the luminance Y of both
  images (the style's Y matched to the content's mean and spread), and the result's Y
  is recombined with the content's own chroma (YCbCr, ITU-R BT.601).
- `strength` in [0, 1]: the style targets are interpolated between the content's own
  Gram matrices (0: nothing to change, the content comes back) and the style's (1).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genlab.core.errors import InvalidRequest, UnsupportedImage
from genlab.transfer.vgg import LAYERS, build_features, check_layers, layer_stride

log = logging.getLogger(__name__)

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")


@dataclass(frozen=True)
class StyleConfig:
    size: int = 512  # long side of the output in px (Gatys / neural-style use 512)
    scales: int = 3  # coarse-to-fine levels, each twice the size of the one before
    iterations: int = 150  # loss evaluations at the finest scale
    coarse_iterations: int = 150  # at each coarser scale (4x cheaper per level down)
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    learning_rate: float = 0.02  # Adam only, in [0, 1] pixel units; L-BFGS steps by 1
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    # True: each loss term is a relative squared error (divided by its target's squared
    # norm) and style layers are averaged, so weights are trade-offs independent of how
    # large a layer's activations are (they differ between layers, and between ImageNet
    # and random filters). False: the raw sums of the PyTorch tutorial and neural-style.
    normalise_losses: bool = True
    pooling: Literal["max", "avg"] = "max"  # Gatys prefer avg; the weights were trained with max
    init: Literal["content", "noise"] = "content"
    style_scale: float = 1.0  # the style image's long side relative to the output's
    strength: float = 1.0
    preserve_colours: bool = False
    seed: int = 0  # -1 draws one; also seeds the random-filter fallback's filters
    frame_every: int = 0  # call on_frame every N evaluations (0: never)
    device: str = "auto"

    def __post_init__(self) -> None:
        _at_least("size", self.size, 2)
        _at_least("scales", self.scales, 1)
        _at_least("iterations", self.iterations, 1)
        _at_least("coarse_iterations", self.coarse_iterations, 1)
        _at_least("frame_every", self.frame_every, 0)
        if self.optimizer not in OPTIMIZERS:
            raise InvalidRequest("optimizer", self.optimizer, "must be lbfgs or adam")
        if self.init not in INITS:
            raise InvalidRequest("init", self.init, "must be content or noise")
        for name in ("content_weight", "style_weight", "tv_weight"):
            if not getattr(self, name) >= 0:  # also refuses NaN
                raise InvalidRequest(name, getattr(self, name), "must be a number >= 0")
        if not self.learning_rate > 0:
            raise InvalidRequest("learning_rate", self.learning_rate, "must be > 0")
        if not 0 < self.style_scale <= 4:
            raise InvalidRequest("style_scale", self.style_scale, "must be in (0, 4]")
        if not 0 <= self.strength <= 1:
            raise InvalidRequest("strength", self.strength, "must be between 0 and 1")
        if not self.content_layers and not self.style_layers:
            raise InvalidRequest("style_layers", (), "at least one content or style layer")
        check_layers(self.content_layers, "content_layers")
        check_layers(self.style_layers, "style_layers")
        if self.pooling not in ("max", "avg"):
            raise InvalidRequest("pooling", self.pooling, "must be max or avg")
        if self.size < self.min_side:
            raise InvalidRequest(
                "size", self.size, f"must be at least {self.min_side} px for {self.deepest}"
            )

    @property
    def deepest(self) -> str:
        return max((*self.content_layers, *self.style_layers), key=LAYERS.index)

    @property
    def min_side(self) -> int:
        """Smallest image side at which the deepest layer keeps one position (16 px for
        relu5_1, which sees the image at 1/16 scale); 2 px at least for the TV term."""
        return max(2, layer_stride(self.deepest))


def _at_least(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or value < low:
        raise InvalidRequest(name, value, f"must be an integer >= {low}")


@dataclass(frozen=True)
class StyleStep:
    """Progress after one loss evaluation (sent to `on_step`)."""

    scale: int  # 1 = coarsest
    scales: int
    evaluation: int  # evaluations so far, all scales together
    total: int
    width: int
    height: int
    losses: dict[str, float]  # content, style, tv, loss (weighted terms)
    image: torch.Tensor = field(repr=False)  # (1, C, h, w) being optimised, C = 3 or 1 (Y)


@dataclass(frozen=True)
class StyleResult:
    image: Image.Image
    features: str  # "vgg19-imagenet" or "vgg19-random-fallback"
    notice: str | None  # the fallback's one-line notice
    seed: int
    sizes: tuple[tuple[int, int], ...]  # (width, height) of each scale, coarse first
    evaluations: tuple[int, ...]
    losses: dict[str, float]  # of the returned image: the finest scale's best evaluation
    seconds: float
    config: StyleConfig

    def params(self) -> dict[str, object]:
        """What goes into the image's metadata."""
        c = self.config
        return {
            "features": self.features,
            "size": "x".join(map(str, self.sizes[-1])),
            "scales": len(self.sizes),
            "iterations": c.iterations,
            "coarse iterations": c.coarse_iterations,
            "optimizer": c.optimizer,
            "content weight": c.content_weight,
            "style weight": c.style_weight,
            "tv weight": c.tv_weight,
            "normalised losses": c.normalise_losses,
            "content layers": list(c.content_layers),
            "style layers": list(c.style_layers),
            "pooling": c.pooling,
            "init": c.init,
            "style scale": c.style_scale,
            "strength": c.strength,
            "preserve colours": c.preserve_colours,
            "seed": self.seed,
        }


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel co-activations summed over positions, divided by C·H·W (the tutorial's
    and neural-style's scaling, so layers of different sizes compare)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)  # (B, C, HW)
    return flat @ flat.transpose(1, 2) / (c * h * w)  # (B, C, C)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels, both directions."""
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]  # (B, C, H-1, W)
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]  # (B, C, H, W-1)
    return dy.pow(2).mean() + dx.pow(2).mean()


class StyleLoss:
    """The Gatys objective for one scale: fixed targets, `__call__(image) -> losses`."""

    def __init__(
        self,
        net: torch.nn.Module,
        config: StyleConfig,
        content: torch.Tensor,  # (1, 3, H, W) in [0, 1]
        style: torch.Tensor,  # (1, 3, h, w) in [0, 1], any size
    ):
        self.net, self.config = net, config
        self.layers = list(dict.fromkeys((*config.content_layers, *config.style_layers)))
        with torch.no_grad():
            mine = net(content, self.layers)
            theirs = net(style, list(config.style_layers))
            s = config.strength
            self.content_targets = {n: mine[n] for n in config.content_layers}
            self.style_targets = {
                n: (1 - s) * gram_matrix(mine[n]) + s * gram_matrix(theirs[n])
                for n in config.style_layers
            }
        if config.normalise_losses:
            # Squared norms of the targets; the floor keeps an all-zero layer finite.
            self.content_norms = {
                n: t.pow(2).sum().clamp_min(1e-12) for n, t in self.content_targets.items()
            }
            self.style_norms = {
                n: t.pow(2).sum().clamp_min(1e-12) for n, t in self.style_targets.items()
            }

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        rgb = image.expand(-1, 3, -1, -1)  # a luminance-only image is seen as grey
        feats = self.net(rgb, self.layers)
        content_terms, style_terms = [], []
        for n, target in self.content_targets.items():
            if c.normalise_losses:
                content_terms.append((feats[n] - target).pow(2).sum() / self.content_norms[n])
            else:
                content_terms.append(F.mse_loss(feats[n], target))
        for n, target in self.style_targets.items():
            gram = gram_matrix(feats[n])
            if c.normalise_losses:
                style_terms.append((gram - target).pow(2).sum() / self.style_norms[n])
            else:
                style_terms.append(F.mse_loss(gram, target))
        zero = image.new_zeros(())
        content = sum(content_terms, zero)
        style = sum(style_terms, zero)
        if c.normalise_losses:
            content = content / max(len(content_terms), 1)
            style = style / max(len(style_terms), 1)
        losses = {
            "content": c.content_weight * content,
            "style": c.style_weight * style,
            "tv": c.tv_weight * total_variation(image),
        }
        losses["loss"] = losses["content"] + losses["style"] + losses["tv"]
        return losses


def stylize(
    content: Image.Image,
    style: Image.Image,
    config: StyleConfig | None = None,
    *,
    weights: Path | None = None,
    on_step: Callable[[StyleStep], None] | None = None,
    on_frame: Callable[[int, Image.Image], None] | None = None,
) -> StyleResult:
    """Repaint `content` in the style of `style`; alpha of `content` is kept.

    `weights`: a VGG-19 state dict (.pth/.safetensors); None looks for torchvision's
    cached file and, failing that, uses the named random-filter fallback.
    `on_frame(evaluation, image)` receives the output so far every `frame_every`
    evaluations, at the output size.
    """
    config = config or StyleConfig()
    started = time.perf_counter()
    # 1. Check inputs: every scale must be large enough for the deepest layer
    sizes, style_sizes = check_inputs(content, style, config)
    # 2. Features: ImageNet VGG-19, or the random-filter fallback (named)
    seed = config.seed if config.seed != -1 else secrets.randbelow(2**31)
    from genlab.devices import torch_device

    device = torch_device(config.device)
    net, source = build_features(config.deepest, pooling=config.pooling, weights=weights, seed=seed)
    net = net.to(device)
    # 3. Prepare the images: RGB (or luminance) tensors in [0, 1]
    alpha = content.getchannel("A") if content.mode == "RGBA" else None
    content_rgb, style_rgb = content.convert("RGB"), style.convert("RGB")
    if config.preserve_colours:
        style_rgb = _luminance_image(style_rgb, like=content_rgb)
        content_input = _luminance_image(content_rgb)
    else:
        content_input = content_rgb
    channels = 1 if config.preserve_colours else 3
    finish = _Finisher(content_rgb, alpha, sizes[-1], config.preserve_colours)
    # 4. Coarse to fine: optimise each scale, upsample the result to start the next
    generator = torch.Generator().manual_seed(seed)
    budget = [config.coarse_iterations] * (len(sizes) - 1) + [config.iterations]
    done, image, losses = 0, None, {}
    for index, ((w, h), (sw, sh), steps) in enumerate(zip(sizes, style_sizes, budget)):
        c_t = _to_tensor(content_input.resize((w, h), Image.LANCZOS), device)  # (1, 3, h, w)
        s_t = _to_tensor(style_rgb.resize((sw, sh), Image.LANCZOS), device)
        objective = StyleLoss(net, config, c_t, s_t)
        if image is None:
            image = _initial(c_t[:, :channels], config.init, generator)
        else:
            image = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False)
            image = image.clamp(0, 1)
        image = image.detach().contiguous().requires_grad_(True)

        def report(values: dict[str, float], x: torch.Tensor, index=index, w=w, h=h) -> None:
            nonlocal done
            done += 1
            if on_step is not None:
                step = StyleStep(index + 1, len(sizes), done, sum(budget), w, h, values, x)
                on_step(step)
            if on_frame is not None and config.frame_every and done % config.frame_every == 0:
                on_frame(done, finish(x))

        losses = _optimise(image, objective, config, steps, report)
        log.info("scale %d/%d (%dx%d): %s", index + 1, len(sizes), w, h, losses)
    assert image is not None
    return StyleResult(
        image=finish(image),
        features=source.label,
        notice=source.message,
        seed=seed,
        sizes=tuple(sizes),
        evaluations=tuple(budget),
        losses=losses,
        seconds=time.perf_counter() - started,
        config=config,
    )


def check_inputs(
    content: Image.Image, style: Image.Image, config: StyleConfig
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(width, height) of content and style at every scale, coarse first; one-line
    errors when an image or a scale is too small for the deepest layer."""
    sizes = scale_sizes(content.size, config)
    return sizes, _style_sizes(style.size, sizes, config)


def scale_sizes(content_size: tuple[int, int], config: StyleConfig) -> list[tuple[int, int]]:
    """(width, height) per scale, coarsest first; the finest has long side `size`."""
    width, height = content_size
    _check_source("content", content_size, config)
    ratio = config.size / max(width, height)
    finest = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    sizes = [
        (max(1, round(finest[0] / 2**k)), max(1, round(finest[1] / 2**k)))
        for k in reversed(range(config.scales))
    ]
    low = config.min_side
    if min(sizes[0]) < low:
        fits = sum(1 for k in range(config.scales) if min(finest) / 2**k >= low)
        raise InvalidRequest(
            "scales",
            config.scales,
            f"the coarsest scale would be {sizes[0][0]}x{sizes[0][1]} px but "
            f"{config.deepest} needs at least {low} px a side; use at most {fits} "
            f"scale(s) or a larger --size",
        )
    return sizes


def _style_sizes(
    style_size: tuple[int, int], sizes: list[tuple[int, int]], config: StyleConfig
) -> list[tuple[int, int]]:
    width, height = style_size
    low = config.min_side
    _check_source("style", style_size, config)
    out = []
    for w, h in sizes:
        ratio = max(w, h) * config.style_scale / max(width, height)
        out.append((max(1, round(width * ratio)), max(1, round(height * ratio))))
    if min(out[0]) < low:
        raise InvalidRequest(
            "style_scale",
            config.style_scale,
            f"the style image would be {out[0][0]}x{out[0][1]} px at the coarsest scale; "
            f"{config.deepest} needs at least {low} px a side",
        )
    return out


def _check_source(what: str, size: tuple[int, int], config: StyleConfig) -> None:
    if min(size) < config.min_side:
        raise UnsupportedImage(
            f"{what} image is {size[0]}x{size[1]} px; the VGG-19 pyramid up to "
            f"{config.deepest} needs at least {config.min_side} px on each side"
        )


def _optimise(
    image: torch.Tensor,
    objective: StyleLoss,
    config: StyleConfig,
    steps: int,
    report: Callable[[dict[str, float], torch.Tensor], None],
) -> dict[str, float]:
    last: dict[str, float] = {}
    # L-BFGS with clamping does not descend monotonically, and its last step is never
    # evaluated: the scale ends with the best image any evaluation saw.
    best: dict[str, float] = {"loss": float("inf")}
    best_image = image.detach().clone()

    def closure() -> torch.Tensor:
        # Keep pixels displayable: unclamped, the Gram terms push values out of [0, 1]
        # and the clamped picture is worse than the loss says (the tutorial does this too).
        with torch.no_grad():
            image.clamp_(0, 1)
        optimizer.zero_grad()
        losses = objective(image)
        losses["loss"].backward()
        last.clear()
        last.update({k: float(v.detach()) for k, v in losses.items()})
        report(dict(last), image.detach())
        if last["loss"] < best["loss"]:
            best.clear()
            best.update(last)
            best_image.copy_(image.detach())
        return losses["loss"]

    if config.optimizer == "lbfgs":
        # One call runs the whole budget: exactly `steps` evaluations (no line search,
        # step size 1 as in neural-style); negative tolerances never stop it early.
        optimizer = torch.optim.LBFGS(
            [image],
            lr=1.0,
            max_iter=steps,
            max_eval=steps,
            tolerance_grad=-1.0,
            tolerance_change=-1.0,
            history_size=100,
        )
        optimizer.step(closure)
    else:
        optimizer = torch.optim.Adam([image], lr=config.learning_rate)
        for _ in range(steps):
            optimizer.step(closure)
    with torch.no_grad():
        image.copy_(best_image)
    return best


def _initial(content: torch.Tensor, init: str, generator: torch.Generator) -> torch.Tensor:
    if init == "content":
        return content.clone(memory_format=torch.contiguous_format)
    noise = torch.rand(content.shape, generator=generator)  # (1, C, h, w) uniform [0, 1]
    return noise.to(content.device)


def _to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    array = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    return (
        torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)
    )  # (1, 3, H, W)


# ITU-R BT.601 full-range YCbCr (as in JPEG); Pillow's "YCbCr" mode uses the same.
_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_FROM_YCBCR = np.linalg.inv(_TO_YCBCR)


def to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] → Y in [0, 1], Cb and Cr in [-0.5, 0.5]."""
    return rgb @ _TO_YCBCR.T


def from_ycbcr(ycc: np.ndarray) -> np.ndarray:
    return ycc @ _FROM_YCBCR.T


def _luminance_image(image: Image.Image, like: Image.Image | None = None) -> Image.Image:
    """Y as a grey RGB image; with `like`, its mean and spread matched to like's Y
    (Gatys et al. 2016), so the style's brightness does not override the content's."""
    y = to_ycbcr(np.asarray(image, dtype=np.float64) / 255.0)[..., 0]
    if like is not None:
        ref = to_ycbcr(np.asarray(like, dtype=np.float64) / 255.0)[..., 0]
        y = (y - y.mean()) / max(y.std(), 1e-6) * ref.std() + ref.mean()
    grey = np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L").convert("RGB")


class _Finisher:
    """Turns the optimised tensor into the output picture: output size, the content's
    chroma back when preserving colours, the content's alpha back when it had one."""

    def __init__(
        self,
        content: Image.Image,
        alpha: Image.Image | None,
        size: tuple[int, int],
        preserve_colours: bool,
    ):
        self.size = size
        self.alpha = alpha.resize(size, Image.LANCZOS) if alpha is not None else None
        self.chroma = None
        if preserve_colours:
            rgb = np.asarray(content.resize(size, Image.LANCZOS), dtype=np.float64) / 255.0
            self.chroma = to_ycbcr(rgb)[..., 1:]  # (H, W, 2)

    def __call__(self, image: torch.Tensor) -> Image.Image:
        x = image.detach().float().clamp(0, 1)
        if x.shape[-2:] != (self.size[1], self.size[0]):
            x = F.interpolate(x, size=(self.size[1], self.size[0]), mode="bicubic")
            x = x.clamp(0, 1)
        array = x[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)  # (H, W, C)
        if self.chroma is not None:
            ycc = np.concatenate([array[..., :1], self.chroma], axis=-1)
            array = from_ycbcr(ycc)
        pixels = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out = Image.fromarray(pixels, "RGB")
        if self.alpha is not None:
            out.putalpha(self.alpha)
        return out
