"""Describe a scene in words, several ways, exactly.

Every caption names every object (grouping identical ones: "two small yellow stars"),
every relation, the background, lighting and style, using only forms from
`genlab.world.vocab`, so `parse_prompt` recovers the scene's spec from any of them.

Relations are said as chains of groups: "A and B above C" means each of A, B is above
C; "A left of B above C" means A left of B and B above C. Objects linked by relations
form one clause; separate clauses are joined by "; ". A scene whose relations cannot be
said that way (with three objects: three relations at once) is refused.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from genlab.core.errors import InvalidRequest
from genlab.world.scene import Relation, Scene
from genlab.world.vocab import (
    BACKGROUND_WORDS,
    COLOUR_FORMS,
    COUNT_FORMS,
    LIGHTING_FORMS,
    LIGHTING_PHRASES,
    RELATION_FORMS,
    RELATIONS,
    SIZE_FORMS,
    STYLE_FORMS,
    STYLE_NOUNS,
    plural,
)

Chain = tuple[list[list[int]], list[str]]  # groups of object indices, relations between


def caption(scene: Scene, rng: random.Random) -> str:
    """One caption, phrasing and word order chosen by `rng`."""
    return rng.choice(_TEMPLATES)(scene, rng)


def captions(scene: Scene, rng: random.Random) -> list[str]:
    """One caption per phrasing template (distinct ones), words chosen by `rng`."""
    found: list[str] = []
    for template in _TEMPLATES:
        text = template(scene, rng)
        if text not in found:
            found.append(text)
    return found


# -- templates -----------------------------------------------------------------------


def _plain(scene: Scene, rng: random.Random) -> str:
    # "a large red circle left of a small blue square at golden hour, flat style, on a …"
    d = describe(scene, rng)
    return f"{d} {_lighting(scene, rng)}, {_style(scene, rng)}, {_background(scene, rng)}"


def _lighting_first(scene: Scene, rng: random.Random) -> str:
    d = describe(scene, rng)
    return f"{_lighting(scene, rng)}, {d}, {_style(scene, rng)}, {_background(scene, rng)}"


def _medium(scene: Scene, rng: random.Random) -> str:
    # "a watercolour painting of two small yellow stars above … on a black background at night"
    word = rng.choice(STYLE_FORMS[scene.style])
    noun = rng.choice(STYLE_NOUNS[scene.style])
    d = describe(scene, rng)
    return (
        f"{_article(word)} {word} {noun} of {d} {_background(scene, rng)} {_lighting(scene, rng)}"
    )


def _tags(scene: Scene, rng: random.Random) -> str:
    # Comma-separated, no articles, as many diffusion prompts are written.
    d = describe(scene, rng, articles=False)
    light = rng.choice(LIGHTING_FORMS[scene.lighting])
    style = rng.choice(STYLE_FORMS[scene.style])
    background = rng.choice(BACKGROUND_WORDS)
    return f"{d}, {light}, {style} style, {_colour(scene.background, rng)} {background}"


def _style_in(scene: Scene, rng: random.Random) -> str:
    word = rng.choice(STYLE_FORMS[scene.style])
    d = describe(scene, rng)
    return f"{d} in {word} style, {_background(scene, rng)}, {_lighting(scene, rng)}"


_TEMPLATES: tuple[Callable[[Scene, random.Random], str], ...] = (
    _plain,
    _lighting_first,
    _medium,
    _tags,
    _style_in,
)


def _lighting(scene: Scene, rng: random.Random) -> str:
    return rng.choice(LIGHTING_PHRASES[scene.lighting])


def _style(scene: Scene, rng: random.Random) -> str:
    word = rng.choice(STYLE_FORMS[scene.style])
    return rng.choice([f"{word} style", f"in {word} style", f"in {_article(word)} {word} style"])


def _background(scene: Scene, rng: random.Random) -> str:
    colour = _colour(scene.background, rng)
    phrase = rng.choice(["on {} {}", "against {} {}", "with {} {}"]).format(
        _article(colour), colour
    )
    return rng.choice([f"{phrase} background", f"{colour} background"])


def _colour(colour: str, rng: random.Random) -> str:
    return rng.choice(COLOUR_FORMS.get(colour, (colour,)))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# -- objects and relations -----------------------------------------------------------


def describe(scene: Scene, rng: random.Random, *, articles: bool = True) -> str:
    """The objects and relations alone: "two small yellow stars above a large …"."""
    clauses = []
    for groups, relations in chains(scene, rng):
        words = [_group(scene, groups[0], rng, articles)]
        for relation, group in zip(relations, groups[1:]):
            words.append(rng.choice(RELATION_FORMS[relation]))
            words.append(_group(scene, group, rng, articles))
        clauses.append(" ".join(words))
    return "; ".join(clauses)


def _group(scene: Scene, members: list[int], rng: random.Random, articles: bool) -> str:
    # Identical objects (same shape, colour, size) are counted, not repeated.
    counts: dict[tuple[str, str, str], int] = {}
    for i in members:
        o = scene.objects[i]
        key = (o.size, o.colour, o.shape)
        counts[key] = counts.get(key, 0) + 1
    phrases = []
    for (size, colour, shape), n in counts.items():
        words = f"{rng.choice(SIZE_FORMS[size])} {_colour(colour, rng)}"
        if n > 1:
            phrases.append(f"{COUNT_FORMS[n]} {words} {plural(shape)}")
        else:
            phrases.append(f"{_article(words)} {words} {shape}" if articles else f"{words} {shape}")
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def chains(scene: Scene, rng: random.Random) -> list[Chain]:
    """The scene as clauses: one chain per set of related objects (one of the shortest
    ways to say it, chosen by `rng`), plus one group of all unrelated objects; shuffled."""
    facts = {r.normalised() for r in scene.relations}
    components = _components(len(scene.objects), facts)
    related = [c for c in components if len(c) > 1]
    loose = [c[0] for c in components if len(c) == 1]
    found: list[Chain] = []
    for members in related:
        own = {f for f in facts if f.subject_index in members}
        options = _chain_forms(members, own)
        if not options:
            raise InvalidRequest(
                "scene.relations",
                [f"{f.subject_index} {f.relation} {f.object_index}" for f in sorted(own, key=str)],
                "cannot be said as chains like 'A left of B above C' or 'A and B above C'",
            )
        # Fewest groups: "two stars above a hexagon", not "a star above a hexagon below a
        # star", so identical objects end up side by side and get counted.
        fewest = min(len(groups) for groups, _ in options)
        found.append(rng.choice([o for o in options if len(o[0]) == fewest]))
    if loose:
        found.append(([loose], []))
    rng.shuffle(found)
    return found


def _components(count: int, facts: set[Relation]) -> list[list[int]]:
    """Objects connected by relations, each list in index order."""
    root = list(range(count))

    def find(i: int) -> int:
        while root[i] != i:
            i = root[i]
        return i

    for f in facts:
        root[find(f.subject_index)] = find(f.object_index)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _chain_forms(members: list[int], facts: set[Relation]) -> list[Chain]:
    """Every ordered split of `members` into groups, with one relation per gap, that
    says exactly `facts`. At most 3 objects, so brute force is a few hundred checks."""
    forms: list[Chain] = []
    n = len(members)
    for k in range(2, n + 1):
        for labels in itertools.product(range(k), repeat=n):
            if len(set(labels)) != k:
                continue
            groups = [[m for m, g in zip(members, labels) if g == at] for at in range(k)]
            for relations in itertools.product(RELATIONS, repeat=k - 1):
                said = {
                    Relation(a, rel, b).normalised()
                    for left, rel, right in zip(groups, relations, groups[1:])
                    for a in left
                    for b in right
                }
                if said == facts:
                    forms.append((groups, list(relations)))
    return forms
