"""The text-conditional GAN's generator: its word tokenizer, text encoder, mapping
network and synthesis network, and its files (`model.safetensors` + `config.json`).

Only what sampling needs lives here, so a model folder loads without training code
(the discriminator and the training loop are `genlab.train.gan`).

Design, from the literature that made small conditional GANs stable:
- a StyleGAN-style mapping MLP turns the noise z into w, whose running mean the
  trainer keeps, so the truncation trick is StyleGAN's: w' = w_avg + psi (w - w_avg);
- the caption is read by a small Transformer over whole words (the captions come from
  a closed vocabulary; unknown words map to one <unk> id and are reported);
- each synthesis block is DF-GAN's: upsample, two convolutions, each followed by
  a text-and-style affine (FiLM) modulation, and a residual shortcut. There is no
  batch normalisation, so an image never depends on the others in its batch and the
  EMA generator needs no statistics recomputed.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PAD, UNK = 0, 1
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def words_of(text: str) -> list[str]:
    """The words the tokenizer reads: lower-case letters (hyphenated words kept whole)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class GanConfig:
    resolution: int = 64
    z_dim: int = 64
    w_dim: int = 128
    text_dim: int = 128
    max_words: int = 40  # captions are cut here; Shapes World's longest is ~35 words
    # Channels at 4x4, 8x8, … up to `resolution`; one entry per doubling plus the base.
    channels: tuple[int, ...] = (128, 96, 64, 32, 16)
    vocab: tuple[str, ...] = field(default_factory=tuple)  # ids 2.. (0 pad, 1 unk)

    def __post_init__(self) -> None:
        if 4 * 2 ** (len(self.channels) - 1) != self.resolution:
            raise ValueError(
                f"channels {list(self.channels)} give {4 * 2 ** (len(self.channels) - 1)} px, "
                f"not the resolution {self.resolution}"
            )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"] = list(self.channels)
        data["vocab"] = list(self.vocab)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GanConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["channels"] = tuple(known.get("channels", cls.channels))
        known["vocab"] = tuple(known.get("vocab", ()))
        return cls(**known)


class WordTokenizer:
    """Whole words to ids, padded to a fixed length (so every caption costs the same)."""

    def __init__(self, vocab: Sequence[str], max_words: int):
        self.ids = {word: i + 2 for i, word in enumerate(vocab)}
        self.max_words = max_words

    def unknown(self, text: str) -> list[str]:
        return list(dict.fromkeys(w for w in words_of(text) if w not in self.ids))

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        out = torch.full((len(texts), self.max_words), PAD, dtype=torch.long)  # (B, L)
        for row, text in enumerate(texts):
            ids = [self.ids.get(w, UNK) for w in words_of(text)][: self.max_words]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


class TextEncoder(nn.Module):
    """Two Transformer layers over word ids, masked mean pooling: (B, L) -> (B, text_dim).

    Order matters in these captions ("a red star left of a blue circle"), so a bag of
    words is not enough; two layers of attention bind colours to shapes and relations
    to their two sides at a cost that is negligible beside the convolutions."""

    def __init__(self, vocab_size: int, dim: int, max_words: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.position = nn.Parameter(torch.zeros(max_words, dim))
        layer = nn.TransformerEncoderLayer(
            dim, nhead=4, dim_feedforward=2 * dim, dropout=0.0, batch_first=True
        )
        self.layers = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = ids == PAD  # (B, L)
        # An empty caption would mask every key; let it attend to its first pad.
        pad[:, 0] = False
        h = self.layers(self.embed(ids) + self.position, src_key_padding_mask=pad)  # (B, L, D)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.out((h * keep).sum(1) / keep.sum(1))  # (B, D)


class Mapping(nn.Module):
    """z -> w, StyleGAN's mapping MLP (shorter: two layers suffice at this scale)."""

    def __init__(self, z_dim: int, w_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(z_dim, w_dim), nn.LeakyReLU(0.2), nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # Pixel norm first, as StyleGAN does: only z's direction carries information.
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        return self.net(z)


class Film(nn.Module):
    """Per-channel scale and shift from the condition (DF-GAN's affine layer)."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.affine = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)  # start as identity: scale 1, shift 0
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.affine(cond)[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1)
        return x * (1 + scale) + shift


class UpBlock(nn.Module):
    """Doubles the side. The upsampling is learned (a 4x4 stride-2 transposed
    convolution, DCGAN's, kernel a multiple of the stride so no checkerboard) rather
    than nearest + 3x3: half the multiply-adds and no upsampled copy in memory, which
    on a CPU is most of the difference between 25 and 50+ images a second."""

    def __init__(self, cin: int, cout: int, cond_dim: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
        self.conv = nn.Conv2d(cout, cout, 3, padding=1)
        self.film1 = Film(cond_dim, cout)
        self.film2 = Film(cond_dim, cout)
        self.skip = nn.ConvTranspose2d(cin, cout, 2, stride=2)  # learned nearest + 1x1

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.film1(self.up(x), cond), 0.2)  # (B, Cout, 2H, 2W)
        h = F.leaky_relu(self.film2(self.conv(h), cond), 0.2)
        return h + self.skip(x)  # (B, Cout, 2H, 2W)


class Generator(nn.Module):
    """(z, caption ids) -> image in [-1, 1], (B, 3, resolution, resolution)."""

    def __init__(self, config: GanConfig):
        super().__init__()
        self.config = config
        c = config.channels
        cond_dim = config.w_dim + config.text_dim
        self.text = TextEncoder(len(config.vocab) + 2, config.text_dim, config.max_words)
        self.mapping = Mapping(config.z_dim, config.w_dim)
        # The 4x4 start comes from w and the caption together, so the layout (where
        # things stand, which the caption names) is decided before any upsampling.
        self.start = nn.Linear(cond_dim, c[0] * 16)
        self.blocks = nn.ModuleList(UpBlock(a, b, cond_dim) for a, b in itertools.pairwise(c))
        self.to_rgb = nn.Conv2d(c[-1], 3, 3, padding=1)
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text(ids)

    def synthesis(self, w: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([w, text], dim=1)  # (B, w_dim + text_dim)
        x = self.start(cond).view(len(w), self.config.channels[0], 4, 4)  # (B, C0, 4, 4)
        for block in self.blocks:
            x = block(x, cond)
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))  # (B, 3, R, R)

    def forward(self, z: torch.Tensor, ids: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        w = self.mapping(z)
        if psi != 1.0:
            w = self.w_avg + psi * (w - self.w_avg)  # StyleGAN's truncation trick
        return self.synthesis(w, self.embed_text(ids))


def save_generator(generator: Generator, folder: Path, extra: dict | None = None) -> None:
    """Write the two files a GAN model folder holds (atomically each)."""
    import os

    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in generator.state_dict().items()}
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, folder / WEIGHTS_FILE)
    data = {"model_type": "genlab-gan", **generator.config.to_dict(), **(extra or {})}
    tmp = folder / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, folder / CONFIG_FILE)


def load_generator(folder: Path) -> tuple[Generator, dict]:
    """The generator in `folder` (eval mode) and its config.json as read."""
    from safetensors.torch import load_file

    data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("model_type") != "genlab-gan":
        raise ValueError(f"{CONFIG_FILE} is not a genlab GAN config (model_type genlab-gan)")
    generator = Generator(GanConfig.from_dict(data))
    generator.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    return generator.eval(), data


def seeded_noise(seeds, config: GanConfig) -> torch.Tensor:
    """z for each seed, each from its own CPU generator: image i of a batch is the image
    of seed s+i alone, on any device (diffusers' rule for reproducible seeds)."""
    rows = [torch.randn(config.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(rows)  # (B, z_dim)
