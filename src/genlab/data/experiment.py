"""The downstream experiment's data and statistics: a deliberately skewed Shapes World
training set, a balanced test set, and confidence intervals over seeds.

The skew is a spurious correlation, the kind synthetic fill is meant to repair: of 4
colours x 4 shapes, each shape has one majority colour (most circles are red), and the
other 12 colour-shape groups have `rare` times as many images. A classifier naming the
shape can lean on colour, and then fails the rare groups; accuracy is measured on a
test set with the same number of images in every group.

Statistics are over seeds (each seed draws new training and test images and a new
initialisation): a t-interval for each mean, and for each condition's gain over the
skewed baseline a paired t-interval, with the minimum difference such a design detects
(two-sided 5% level, 80% power) from the paired differences' spread.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from genlab.core.errors import InvalidRequest
from genlab.world.caption import caption
from genlab.world.parse import scene_from_prompt
from genlab.world.render import render

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle", "star")
MAJORITY = {"circle": "red", "square": "green", "triangle": "blue", "star": "yellow"}


@dataclass(frozen=True)
class ExperimentConfig:
    majority: int = 80  # images of each majority group
    rare: float = 0.03  # each minority group's size as a share of a majority group's
    test_per_group: int = 25
    size: int = 32
    seeds: int = 5
    epochs: int = 15

    def __post_init__(self) -> None:
        checks = {
            "majority": (self.majority, 10, 100_000),
            "test_per_group": (self.test_per_group, 5, 100_000),
            "seeds": (self.seeds, 2, 100),
            "epochs": (self.epochs, 1, 1000),
        }
        for name, (value, low, high) in checks.items():
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidRequest(name, value, f"must be an integer from {low} to {high}")
        if not 0 < self.rare <= 1:
            raise InvalidRequest("rare", self.rare, "must be a share above 0 and at most 1")
        if self.size % 8 or not 16 <= self.size <= 128:
            raise InvalidRequest("size", self.size, "must be a multiple of 8 from 16 to 128")

    def group_size(self, colour: str, shape: str) -> int:
        if MAJORITY[shape] == colour:
            return self.majority
        return max(1, round(self.rare * self.majority))

    def to_dict(self) -> dict:
        return asdict(self)


def groups() -> list[tuple[str, str]]:
    return [(c, s) for s in SHAPES for c in COLOURS]


def write_set(out: Path, sizes: dict[tuple[str, str], int], side: int, seed: int) -> Path:
    """An imagefolder of single-object scenes, `sizes[(colour, shape)]` of each, in
    the layout `genlab world dataset` writes (file_name, text, scene)."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for colour, shape in groups():
        for i in range(sizes.get((colour, shape), 0)):
            rng = random.Random(f"{seed}/{colour}/{shape}/{i}")
            scene, _ = scene_from_prompt(f"one large {colour} {shape}", rng)
            name = f"images/{colour}-{shape}-{i:05d}.png"
            render(scene, side, side, rng=rng).save(out / name)
            rows.append({"file_name": name, "text": caption(scene, rng), "scene": scene.to_dict()})
    text = "".join(json.dumps(row) + "\n" for row in rows)
    tmp = out / "metadata.jsonl.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "metadata.jsonl")
    return out


def skewed_sizes(config: ExperimentConfig) -> dict[tuple[str, str], int]:
    return {g: config.group_size(*g) for g in groups()}


def balanced_sizes(n: int) -> dict[tuple[str, str], int]:
    return dict.fromkeys(groups(), n)


# -- statistics over seeds ------------------------------------------------------------


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the mean by Student's t; the values are per-seed results."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def minimum_detectable(differences: Sequence[float], power: float = 0.8) -> float:
    """The smallest true mean paired difference a two-sided 5% t-test over this many
    seeds detects with `power`, given the differences' observed spread."""
    from scipy import stats

    n = len(differences)
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    return (stats.t.ppf(0.975, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n)
