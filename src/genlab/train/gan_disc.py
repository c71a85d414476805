"""The GAN's discriminator and its differentiable augmentation (training only).

- Spectral normalisation on every weight (Miyato et al. 2018) bounds the
  discriminator's Lipschitz constant, the main reason hinge-loss GANs train stably.
- A projection discriminator (Miyato & Koyama 2018): the score is
  psi(h) + <embed(caption), h>, the caption read by the discriminator's own small
  text encoder, so the discriminator judges image *and* match, not just realism.
- DiffAugment (Zhao et al. 2020) applies the same random, differentiable transforms
  to real and generated images before the discriminator. Only translation and
  cutout: its colour transforms would change what the captions name ("red").
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from genlab.engines.gan_net import TextEncoder

AUGMENTS = ("translation", "cutout")


def _sn_conv(cin: int, cout: int, kernel: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, kernel, padding=kernel // 2))


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, first: bool = False):
        super().__init__()
        self.first = first  # no activation on raw pixels (BigGAN's first block)
        self.conv1 = _sn_conv(cin, cout, 3)
        self.conv2 = _sn_conv(cout, cout, 3)
        self.skip = _sn_conv(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.leaky_relu(x, 0.2)
        h = self.conv2(F.leaky_relu(self.conv1(h), 0.2))
        return F.avg_pool2d(h, 2) + F.avg_pool2d(self.skip(x), 2)  # (B, Cout, H/2, W/2)


class Discriminator(nn.Module):
    """(image, caption ids) -> one score per image."""

    def __init__(
        self,
        vocab_size: int,
        max_words: int,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        text_dim: int = 128,
    ):
        super().__init__()
        ins = (3, *channels[:-1])
        self.blocks = nn.Sequential(
            *(DownBlock(a, b, first=i == 0) for i, (a, b) in enumerate(zip(ins, channels)))
        )
        feat = channels[-1]
        self.text = TextEncoder(vocab_size, text_dim, max_words)
        self.head = spectral_norm(nn.Linear(feat, 1))
        self.project = spectral_norm(nn.Linear(text_dim, feat))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The image's features h, (B, C): computed once, scored against any caption."""
        return F.leaky_relu(self.blocks(x), 0.2).sum(dim=(2, 3))  # sum pooling

    def score(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        text = self.text(ids)  # (B, text_dim)
        return self.head(h).squeeze(1) + (self.project(text) * h).sum(1)  # (B,)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.score(self.trunk(x), ids)


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator):
    """DiffAugment's translation (1/8 of the side, zero padded) and cutout (1/4 side)."""
    if "translation" in policy:
        x = _translate(x, 0.125, generator)
    if "cutout" in policy:
        x = _cutout(x, 0.25, generator)
    return x


def _translate(x: torch.Tensor, ratio: float, generator: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), generator=generator)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), generator=generator)
    gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    gy = torch.clamp(gy[None] + ty + 1, 0, h + 1)  # (B, H, W), into the padded image
    gx = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # the zero border is what shifts in
    index = torch.arange(b)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float, generator: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=generator)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=generator)
    gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    inside = ((gy[None] - oy + ch // 2).clamp(0, h) < ch) & (
        (gx[None] - ox + cw // 2).clamp(0, w) < cw
    )
    inside &= (gy[None] - oy + ch // 2 >= 0) & (gx[None] - ox + cw // 2 >= 0)
    return x * (~inside).unsqueeze(1).to(x.dtype)
