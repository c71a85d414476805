"""The downstream model of the data experiment: a small CNN that names the shape in a
single-object Shapes World image, its training loop, and per-group evaluation.

Small on purpose: the experiment asks whether filling a skewed training set helps
the rare groups, so the model must be able to take the colour shortcut a skewed set
offers (every circle red) and must train in seconds on one CPU core. Three 3x3
convolution blocks reach a 32 px image's whole extent; global average pooling and one
linear layer name the shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ClassifierConfig:
    classes: int = 4
    width: int = 16  # channels of the first block; doubled per block
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3


class ShapeClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        w = config.width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, H/2, W/2)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, H/4, W/4)
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),  # (B, 4w, H/4, W/4)
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),  # (B, 4w)
        )  # fmt: skip
        self.head = nn.Linear(4 * w, config.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) arrays as one float (N, 3, H, W) batch in [-1, 1]."""
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return batch / 127.5 - 1.0


def train(x: torch.Tensor, y: torch.Tensor, config: ClassifierConfig, seed: int) -> ShapeClassifier:
    """Train from a seeded initialisation with seeded shuffling (CPU generators, so a
    seed gives the same model on any machine)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ShapeClassifier(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return model.eval()


def predict(model: ShapeClassifier, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate(
            [model(x[i : i + batch_size]).argmax(-1).numpy() for i in range(0, len(x), batch_size)]
        )


def group_accuracy(y_true, y_pred, groups: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Overall accuracy and accuracy per group, by fairlearn's MetricFrame."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score

    frame = MetricFrame(
        metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=list(groups)
    )
    return float(frame.overall), {str(k): float(v) for k, v in frame.by_group.items()}
