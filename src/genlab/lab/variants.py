"""Prompt-variant axes: each point of the axis is an edit of the prompt, not a setting.

- `sr` — A1111's "Prompt S/R": the first value is searched for, every value (the
  first included, so the first point is the prompt unchanged) replaces it, in the
  prompt and the negative prompt.
- `descriptors` — a named set (genlab.world.descriptors): the prompt with none of the
  set's phrases, then with each one alone.
- `order` — permutations of the comma-separated phrases (all of them, or only the
  phrases named), the prompt as typed first.
- `density` — 1, 2, 4 and 8 of a set's descriptors appended, never two that
  contradict each other (genlab.world.descriptors.stack_descriptors).

Errors are ValueError with a message that makes sense after "axis X: ".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from genlab.prompts.builder import (
    add_descriptors,
    join_phrases,
    remove_descriptors,
    split_phrases,
)
from genlab.world.descriptors import (
    descriptor_set,
    stack_descriptors,
    stackable,
)

VARIANT_KINDS = ("sr", "descriptors", "order", "density")
# 6 phrases give 720 orders; more would be a plan nobody looks at, and building the
# permutations of 10 phrases (3.6 M) would itself take a while before the budget check.
MAX_ORDER_PHRASES = 6
DENSITIES = (1, 2, 4, 8)

Edit = Callable[[str, str], tuple[str, str]]  # (prompt, negative) -> (prompt, negative)


@dataclass(frozen=True)
class Variant:
    label: str
    edit: Edit


def variants(
    kind: str, values: Sequence[str], set_name: str | None, prompt: str, negative: str
) -> list[Variant]:
    """The points of a variant axis for this prompt."""
    if kind == "sr":
        return _search_replace(values, prompt, negative)
    if kind == "order":
        return _orders(values, prompt)
    if set_name is None:
        raise ValueError(f"{kind} needs a descriptor set, e.g. {kind}=lighting")
    try:
        words = descriptor_set(set_name)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    if kind == "descriptors":
        return _descriptors(words, set_name)
    if kind == "density":
        return _densities(set_name, prompt)
    raise ValueError(f"unknown prompt variant {kind!r}; known: {', '.join(VARIANT_KINDS)}")


def _search_replace(values: Sequence[str], prompt: str, negative: str) -> list[Variant]:
    if len(values) < 2:
        raise ValueError("sr needs the search text and at least one replacement: sr=red,blue")
    search = values[0]
    if not search or (search not in prompt and search not in negative):
        raise ValueError(f"sr search text {search!r} is not in the prompt or negative prompt")

    def replacing(value: str) -> Edit:
        return lambda p, n: (p.replace(search, value), n.replace(search, value))

    return [Variant(value, replacing(value)) for value in values]


def _orders(values: Sequence[str], prompt: str) -> list[Variant]:
    phrases = split_phrases(prompt)
    chosen = list(values) or phrases
    missing = [value for value in chosen if value not in phrases]
    if missing:
        raise ValueError(
            f"order phrase {missing[0]!r} is not a comma-separated phrase of the prompt"
        )
    if len(chosen) > MAX_ORDER_PHRASES:
        raise ValueError(
            f"order permutes {len(chosen)} phrases; at most {MAX_ORDER_PHRASES} "
            "(name the phrases to permute: order=a,b,c)"
        )
    if len(chosen) < 2:
        raise ValueError("order needs at least two comma-separated phrases to permute")

    def placing(order: tuple[str, ...]) -> Edit:
        def edit(p: str, n: str) -> tuple[str, str]:
            current = split_phrases(p)
            slots = [i for i, phrase in enumerate(current) if phrase in chosen]
            for slot, phrase in zip(slots, order):
                current[slot] = phrase
            return join_phrases(current), n

        return edit

    # dict.fromkeys: a phrase typed twice would otherwise give identical orders.
    orders = dict.fromkeys(itertools.permutations(chosen))
    return [Variant(join_phrases(order), placing(order)) for order in orders]


def _descriptors(words: tuple[str, ...], set_name: str) -> list[Variant]:
    def only(word: str | None) -> Edit:
        def edit(p: str, n: str) -> tuple[str, str]:
            bare = remove_descriptors(p, words)
            return (add_descriptors(bare, [word]) if word else bare), n

        return edit

    return [Variant(f"no {set_name}", only(None))] + [Variant(w, only(w)) for w in words]


def _densities(set_name: str, prompt: str) -> list[Variant]:
    def first(count: int) -> Edit:
        return lambda p, n: (stack_descriptors(p, set_name, count), n)

    available = len(stackable(set_name, prompt))
    return [Variant(str(count), first(count)) for count in DENSITIES if count <= available]
