"""Near-duplicate images by perceptual hash (imagehash's pHash: the sign of the
lowest 8x8 DCT frequencies, 64 bits), found without comparing every pair.

Two images are near-duplicates when their hashes differ in at most `distance` bits.
Split the 64 bits into distance + 1 bands: by the pigeonhole principle two hashes
within the distance agree exactly on at least one band, so only images sharing a band
value are compared (multi-index hashing). Identical hashes are merged first, so a
folder with a thousand copies of one image costs one comparison, not half a million.

pHash sees only luma, so a white star on purple and a white circle on blue can share
a hash (Shapes World's flat scenes do, often). The audit therefore also asks that two
images' 8x8 colour thumbnails agree (`same_colours`); with that check every candidate
pair is compared, identical hashes included.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

BITS = 64
DEFAULT_DISTANCE = 4  # of 64 bits: re-encodes and slight resizes, not new scenes
# Mean absolute difference of 8x8 colour thumbnails (0..1): a re-encode or a slight
# blur moves it by ~0.01, another palette colour on a large area by 0.1 or more.
COLOUR_TOLERANCE = 0.05


def phash(image: Image.Image) -> int:
    import imagehash

    bits = imagehash.phash(image, hash_size=8).hash.flatten()  # (64,) bool, row-major
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def thumbnail(image: Image.Image) -> np.ndarray:
    """(8, 8, 3) float colours in 0..1: the image's colour layout, for `same_colours`."""
    small = image.convert("RGB").resize((8, 8), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


def same_colours(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.abs(a - b).mean()) <= COLOUR_TOLERANCE


def groups(
    hashes: Sequence[int],
    distance: int = DEFAULT_DISTANCE,
    same: Callable[[int, int], bool] | None = None,
) -> list[list[int]]:
    """Indices of `hashes` in groups of near-duplicates (each group of 2 or more,
    sorted; groups ordered by their first index). Transitive: a~b and b~c group a, b, c.
    `same(i, j)`, when given, must also hold for a pair to count."""
    if not 0 <= distance < BITS:
        raise ValueError(f"distance must be 0 to {BITS - 1}, not {distance}")
    by_hash: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        by_hash[h if same is None else (h, i)].append(i)
    unique = [h if same is None else h[0] for h in by_hash]
    first = [members[0] for members in by_hash.values()]
    parent = list(range(len(unique)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for band in _bands(distance):
        buckets: dict[int, list[int]] = defaultdict(list)
        for u, h in enumerate(unique):
            buckets[(h >> band[0]) & band[1]].append(u)
        for members in buckets.values():
            for a_at, a in enumerate(members):
                for b in members[a_at + 1 :]:
                    if (unique[a] ^ unique[b]).bit_count() > distance:
                        continue
                    if same is None or same(first[a], first[b]):
                        parent[root(a)] = root(b)
    merged: dict[int, list[int]] = defaultdict(list)
    for u, members in enumerate(by_hash.values()):
        merged[root(u)].extend(members)
    found = [sorted(g) for g in merged.values() if len(g) > 1]
    return sorted(found)


def _bands(distance: int) -> list[tuple[int, int]]:
    """(shift, mask) of distance + 1 bands that cover the 64 bits."""
    count = distance + 1
    edges = [round(i * BITS / count) for i in range(count + 1)]
    return [(lo, (1 << (hi - lo)) - 1) for lo, hi in itertools.pairwise(edges)]
