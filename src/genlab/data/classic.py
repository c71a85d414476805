"""Classic augmentation: new images of a combination made by transforming the folder's
own images of it with torchvision's transforms v2, the maintained baseline that
synthetic fill has to beat.

Only transforms that keep every Shapes World label true are used: a small shift and
zoom (relations between centres survive a shift and a uniform zoom), a slight blur,
and brightness/contrast jitter mild enough that no palette colour turns into another.
No flips (they swap left and right) and no hue jitter (it changes colour names). The
row keeps the source's caption and scene (positions move by at most the shift) and
names the source in `augmented_from`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from genlab.core.errors import GenlabError
from genlab.core.images import open_image
from genlab.data.attributes import Attributes
from genlab.data.augment import combinations
from genlab.data.folder import Record


def transform():
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomAffine(degrees=0, translate=(0.08, 0.08), scale=(0.9, 1.1), fill=None),
            v2.RandomApply([v2.GaussianBlur(kernel_size=3, sigma=(0.1, 0.8))], p=0.5),
            v2.ColorJitter(brightness=0.1, contrast=0.1),
        ]
    )


class ClassicDraw:
    """A `Draw` for genlab.data.augment.write: image `seed` of a combination is a seeded
    random transform of a seeded random source image of that combination."""

    def __init__(self, records: Sequence[Record], items: Sequence[Attributes], by: Sequence[str]):
        self.sources: dict[str, list[tuple[Record, Attributes]]] = defaultdict(list)
        for record, item in zip(records, items):
            for combination in set(combinations(item, by)):
                self.sources[combination].append((record, item))
        self.by = tuple(by)
        self.transform = transform()

    def __call__(self, combination: str, prompt: str, seed: int):
        import torch

        sources = self.sources.get(combination)
        if not sources:
            raise GenlabError(
                f"classic augmentation cannot make {combination!r}: the folder has no image of it"
            )
        record, _ = random.Random(seed).choice(sources)
        image = open_image(record.path, keep_alpha=False)
        # v2 draws its parameters from torch's global generator: seed a private fork.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = self.transform(image)
        return out, record.scene, record.caption or prompt, {"augmented_from": record.name}
