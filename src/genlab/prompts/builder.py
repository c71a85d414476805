"""Descriptor sets and the small edits prompt sweeps make: append, remove, reorder phrases.

A descriptor is a comma-separated phrase ("at golden hour", "watercolour style") that
changes how a subject is drawn rather than what it is. Each set starts with Shapes
World's own words, which the procedural engine and the built-in model understand, so a
sweep on those models shows a real change; general words that larger Stable Diffusion
checkpoints know follow. Density sweeps take a set's first n entries, so the order of a
set is the order in which descriptors pile up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from genlab.world.vocab import LIGHTING_PHRASES, STYLE_FORMS

# "red background" rather than "red": a bare colour word would recolour a shape,
# which is a change of subject, not of descriptor.
_WORLD_BACKGROUNDS = ("blue", "yellow", "green", "purple", "black", "white")

DESCRIPTOR_SETS: dict[str, tuple[str, ...]] = {
    "colour": (
        *(f"{colour} background" for colour in _WORLD_BACKGROUNDS),
        "vibrant colours",
        "pastel colours",
        "muted colours",
        "warm tones",
        "cool tones",
    ),
    "lighting": (
        # The first phrase of each Shapes World lighting, as its captions write it.
        *(phrases[0] for phrases in LIGHTING_PHRASES.values()),
        "soft light",
        "dramatic lighting",
        "rim lighting",
        "studio lighting",
        "volumetric light",
    ),
    "style": (
        *(f"{forms[0]} style" for forms in STYLE_FORMS.values()),
        "oil painting",
        "pixel art",
        "line art",
        "isometric",
        "photorealistic",
    ),
    "mood": (
        "calm",
        "serene",
        "playful",
        "moody",
        "mysterious",
        "melancholic",
        "energetic",
        "dreamy",
    ),
}


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


def descriptor_set(name: str) -> tuple[str, ...]:
    """A named set; KeyError names the known ones."""
    try:
        return DESCRIPTOR_SETS[name]
    except KeyError:
        raise KeyError(
            f"unknown descriptor set {name!r}; known: {', '.join(DESCRIPTOR_SETS)}"
        ) from None
