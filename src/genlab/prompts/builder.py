"""Phrase edits prompt sweeps make: split a prompt into its comma-separated phrases,
append descriptors, remove them, join the phrases again.

A descriptor is a comma-separated phrase ("at golden hour", "watercolour style") that
changes how a subject is drawn rather than what it is. The named descriptor sets,
which start with Shapes World's own words, live with that vocabulary in
`genlab.world.descriptors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def split_phrases(prompt: str) -> list[str]:
    """The prompt's comma-separated phrases, stripped, empty ones dropped."""
    return [phrase.strip() for phrase in prompt.split(",") if phrase.strip()]


def join_phrases(phrases: Iterable[str]) -> str:
    return ", ".join(phrases)


def add_descriptors(prompt: str, descriptors: Sequence[str]) -> str:
    """Append descriptors as phrases; one the prompt already holds is not added twice."""
    phrases = split_phrases(prompt)
    present = {phrase.lower() for phrase in phrases}
    for descriptor in descriptors:
        if descriptor.strip().lower() not in present:
            phrases.append(descriptor.strip())
            present.add(descriptor.strip().lower())
    return join_phrases(phrases)


def remove_descriptors(prompt: str, descriptors: Sequence[str]) -> str:
    """Drop every phrase that is exactly one of `descriptors` (case-insensitive)."""
    drop = {descriptor.strip().lower() for descriptor in descriptors}
    return join_phrases(p for p in split_phrases(prompt) if p.lower() not in drop)
