"""Descriptor sets for prompt sweeps: colour, lighting, style and mood phrases.

Each set starts with Shapes World's own words, which the procedural engine and the
built-in model understand, so a sweep on those models shows a real change; general
words that larger Stable Diffusion checkpoints know follow. Density sweeps stack
descriptors that can hold together: one Shapes World word at most, then general ones
(`stack_descriptors`). The phrase edits themselves are prompt text
(`genlab.prompts.builder`).
"""

from __future__ import annotations

import re

from genlab.prompts.builder import add_descriptors
from genlab.world.vocab import BACKGROUND_WORDS, LIGHTING_FORMS, LIGHTING_PHRASES, STYLE_FORMS

# "red background" rather than "red": a bare colour word would recolour a shape,
# which is a change of subject, not of descriptor.
_WORLD_BACKGROUNDS = ("blue", "yellow", "green", "purple", "black", "white")

# Shapes World's own words per set, as its captions write them.
_WORLD: dict[str, tuple[str, ...]] = {
    "colour": tuple(f"{colour} background" for colour in _WORLD_BACKGROUNDS),
    "lighting": tuple(phrases[0] for phrases in LIGHTING_PHRASES.values()),
    "style": tuple(f"{forms[0]} style" for forms in STYLE_FORMS.values()),
    "mood": (),
}
# Words larger checkpoints know; Shapes World ignores them (and says so). None of them
# holds a Shapes World word, so they never contradict a scene.
_GENERAL: dict[str, tuple[str, ...]] = {
    "colour": (
        "vibrant colours",
        "pastel colours",
        "muted colours",
        "warm tones",
        "cool tones",
        "high contrast",
        "saturated colours",
    ),
    "lighting": (
        "soft light",
        "dramatic lighting",
        "rim lighting",
        "studio lighting",
        "volumetric light",
        "backlit",
        "cinematic lighting",
    ),
    "style": (
        "oil painting",
        "pixel art",
        "line art",
        "isometric",
        "photorealistic",
        "minimalist",
        "low poly",
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
DESCRIPTOR_SETS: dict[str, tuple[str, ...]] = {
    name: _WORLD[name] + _GENERAL[name] for name in ("colour", "lighting", "style", "mood")
}

# A Shapes World image has one background, one lighting and one style, so a prompt that
# names one already must not get a second: these words say a prompt has one.
_TAKEN_BY: dict[str, tuple[str, ...]] = {
    "colour": BACKGROUND_WORDS,
    "lighting": tuple(form for forms in LIGHTING_FORMS.values() for form in forms),
    "style": tuple(form for forms in STYLE_FORMS.values() for form in forms),
    "mood": (),
}


def descriptor_set(name: str) -> tuple[str, ...]:
    """A named set; KeyError names the known ones."""
    try:
        return DESCRIPTOR_SETS[name]
    except KeyError:
        raise KeyError(
            f"unknown descriptor set {name!r}; known: {', '.join(DESCRIPTOR_SETS)}"
        ) from None


def stack_descriptors(prompt: str, name: str, count: int) -> str:
    """`count` descriptors of set `name` appended, in density order: one Shapes World
    word (none when the prompt already has one of its kind), then general words. Two
    Shapes World words of a set contradict each other ("at noon, at night")."""
    descriptor_set(name)  # the KeyError for an unknown name
    return add_descriptors(prompt, stackable(name, prompt)[:count])


def stackable(name: str, prompt: str = "") -> tuple[str, ...]:
    """The descriptors of set `name` that can be stacked onto `prompt`."""
    taken = any(re.search(rf"\b{re.escape(word)}\b", prompt, re.I) for word in _TAKEN_BY[name])
    return (() if taken else _WORLD[name][:1]) + _GENERAL[name]
