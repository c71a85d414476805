from __future__ import annotations

import itertools
import random

from PIL import Image, ImageFilter

from genlab.data.duplicates import groups, phash, same_colours, thumbnail


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


def test_the_colour_check_separates_scenes_that_share_a_luma_hash():
    white_on_purple = Image.new("RGB", (32, 32), (125, 55, 185))
    white_on_blue = Image.new("RGB", (32, 32), (35, 80, 215))
    for image in (white_on_purple, white_on_blue):
        image.paste((245, 245, 245), (10, 10, 22, 22))
    images = [white_on_purple, white_on_blue, white_on_purple.filter(ImageFilter.GaussianBlur(0.5))]
    hashes = [phash(im) for im in images]
    thumbs = [thumbnail(im) for im in images]
    assert groups(hashes, 4) == [[0, 1, 2]]  # luma alone: one group
    assert groups(hashes, 4, lambda i, j: same_colours(thumbs[i], thumbs[j])) == [[0, 2]]


def test_the_colour_check_still_finds_every_brute_force_group_it_allows():
    rng = random.Random(1)
    hashes = [rng.getrandbits(64) for _ in range(20)]
    hashes += [hashes[0]] * 3 + [hashes[1] ^ 1]
    always = groups(hashes, 3, lambda i, j: True)
    assert always == brute_force(hashes, 3)
