from __future__ import annotations

import itertools
import random

from PIL import Image, ImageFilter

from genlab.data.duplicates import groups, phash


def brute_force(hashes, distance):
    """Connected components of the pairs within `distance`, compared pair by pair."""
    parent = list(range(len(hashes)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in itertools.combinations(range(len(hashes)), 2):
        if (hashes[a] ^ hashes[b]).bit_count() <= distance:
            parent[root(a)] = root(b)
    found = {}
    for i in range(len(hashes)):
        found.setdefault(root(i), []).append(i)
    return sorted(sorted(g) for g in found.values() if len(g) > 1)


def test_banded_search_finds_exactly_the_brute_force_groups():
    rng = random.Random(0)
    base = [rng.getrandbits(64) for _ in range(40)]
    hashes = list(base)
    for h in base[:15]:  # near copies: flip up to 5 random bits
        flips = rng.sample(range(64), rng.randint(0, 5))
        hashes.append(h ^ sum(1 << b for b in flips))
    hashes += [base[3]] * 4  # exact copies
    for distance in (0, 2, 4, 6):
        assert groups(hashes, distance) == brute_force(hashes, distance)


def test_a_resaved_blurred_render_is_a_near_duplicate_and_another_scene_is_not(shapes_folder):
    first = Image.open(shapes_folder / "images/000000.png").convert("RGB").resize((64, 64))
    copy = first.filter(ImageFilter.GaussianBlur(0.6)).resize((60, 60))
    other = Image.open(shapes_folder / "images/000001.png").convert("RGB").resize((64, 64))
    hashes = [phash(first), phash(copy), phash(other)]
    assert groups(hashes, 6) == [[0, 1]]
