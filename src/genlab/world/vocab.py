"""Shapes World's vocabulary: every word the captioner writes and the parser reads.

One module on purpose: the captioner, the prompt parser and (later) the trainer's
tokenizer must agree on the words, so each table lists a canonical value first and the
surface forms that mean it after. Captions only use forms listed here, which is what
makes `parse_prompt(caption(scene))` exact.

Canonical values are identifiers (`golden_hour`, `left_of`) so they read well in JSON.
"""

from __future__ import annotations

from functools import lru_cache

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "heart", "hexagon")
# Nouns the parser also accepts; captions write the canonical shape name.
SHAPE_SYNONYMS: dict[str, str] = {
    "disc": "circle",
    "disk": "circle",
    "dot": "circle",
    "box": "square",
    "hex": "hexagon",
}

# Hues picked far apart (and black/white/grey/brown apart in lightness) so a detector
# can tell them apart after lighting; RGB 0-255.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 135, 20),
    "yellow": (250, 215, 35),
    "green": (45, 165, 65),
    "cyan": (35, 195, 215),
    "blue": (35, 80, 215),
    "purple": (125, 55, 185),
    "pink": (245, 125, 185),
    "brown": (125, 80, 45),
    "white": (245, 245, 245),
    "grey": (130, 130, 130),
    "black": (25, 25, 25),
}
COLOUR_FORMS: dict[str, tuple[str, ...]] = {"grey": ("grey", "gray")}
COLOUR_SYNONYMS: dict[str, str] = {"violet": "purple", "turquoise": "cyan", "aqua": "cyan"}

SIZES: tuple[str, ...] = ("small", "medium", "large")
SIZE_FORMS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little"),
    "medium": ("medium", "medium-sized"),
    "large": ("large", "big"),
}
SIZE_SYNONYMS: dict[str, str] = {"tiny": "small", "huge": "large", "mid-sized": "medium"}

# Image coordinates: y grows downwards, so "above" means a smaller y.
RELATIONS: tuple[str, ...] = ("left_of", "right_of", "above", "below")
INVERSE: dict[str, str] = {
    "left_of": "right_of",
    "right_of": "left_of",
    "above": "below",
    "below": "above",
}
RELATION_FORMS: dict[str, tuple[str, ...]] = {
    "left_of": ("left of", "to the left of", "on the left of"),
    "right_of": ("right of", "to the right of", "on the right of"),
    "above": ("above", "over", "on top of"),
    "below": ("below", "under", "beneath", "underneath"),
}
RELATION_SYNONYMS: dict[str, str] = {
    "on the left side of": "left_of",
    "to the left side of": "left_of",
    "on the right side of": "right_of",
    "to the right side of": "right_of",
}

LIGHTINGS: tuple[str, ...] = ("noon", "golden_hour", "sunset", "overcast", "night")
LIGHTING_FORMS: dict[str, tuple[str, ...]] = {
    "noon": ("noon", "midday"),
    "golden_hour": ("golden hour",),
    "sunset": ("sunset",),
    "overcast": ("overcast",),
    "night": ("night", "nighttime"),
}
# Whole phrases captions use for lighting; each parses through the tables above.
LIGHTING_PHRASES: dict[str, tuple[str, ...]] = {
    "noon": ("at noon", "at midday", "in noon light"),
    "golden_hour": ("at golden hour", "in golden hour light", "during golden hour"),
    "sunset": ("at sunset", "in sunset light"),
    "overcast": ("in overcast light", "on an overcast day"),
    "night": ("at night", "by night"),
}

STYLES: tuple[str, ...] = ("flat", "outlined", "watercolour", "monochrome")
STYLE_FORMS: dict[str, tuple[str, ...]] = {
    "flat": ("flat",),
    "outlined": ("outlined", "outline"),
    "watercolour": ("watercolour", "watercolor"),
    "monochrome": ("monochrome", "greyscale", "grayscale"),
}
# "a watercolour painting of …": the noun is filler, the adjective carries the style.
STYLE_NOUNS: dict[str, tuple[str, ...]] = {
    "flat": ("illustration", "picture"),
    "outlined": ("drawing", "illustration"),
    "watercolour": ("painting",),
    "monochrome": ("picture", "image"),
}

BACKGROUND_WORDS: tuple[str, ...] = ("background", "backdrop")

MAX_OBJECTS = 3
NUMBER_WORDS: dict[str, int] = {
    "one": 1,
    "single": 1,
    "two": 2,
    "three": 3,
    # Known so that "five stars" is refused clearly instead of reported as unknown.
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
COUNT_FORMS: dict[int, str] = {2: "two", 3: "three"}

# Words that carry no meaning here but are not mistakes either.
FILLER_WORDS: frozenset[str] = frozenset(
    "a an the and with of in on at to by during against plus style styled lighting light "
    "day sized shape shapes colour color coloured colored image picture drawing painting "
    "illustration art there is are".split()
)
CLAUSE_BREAKS: tuple[str, ...] = (".", ";")


def plural(shape: str) -> str:
    return shape + "s"


@lru_cache(maxsize=1)
def lexicon() -> dict[tuple[str, ...], tuple[str, str]]:
    """Every known phrase, as a tuple of words, mapped to (kind, canonical value).

    Kinds: shape, shapes (plural), colour, size, count, relation, lighting, style,
    background, filler. Hyphens count as spaces ("medium-sized" is two words).
    """
    table: dict[str, tuple[str, str]] = {}
    for shape in SHAPES:
        table[shape] = ("shape", shape)
        table[plural(shape)] = ("shapes", shape)
    for word, shape in SHAPE_SYNONYMS.items():
        table[word] = ("shape", shape)
        table[plural(word) if not word.endswith("x") else word + "es"] = ("shapes", shape)
    for colour in COLOURS:
        for form in COLOUR_FORMS.get(colour, (colour,)):
            table[form] = ("colour", colour)
    table.update({word: ("colour", colour) for word, colour in COLOUR_SYNONYMS.items()})
    for size, forms in SIZE_FORMS.items():
        table.update({form: ("size", size) for form in forms})
    table.update({word: ("size", size) for word, size in SIZE_SYNONYMS.items()})
    for relation, forms in RELATION_FORMS.items():
        table.update({form: ("relation", relation) for form in forms})
    table.update({form: ("relation", rel) for form, rel in RELATION_SYNONYMS.items()})
    for lighting, forms in LIGHTING_FORMS.items():
        table.update({form: ("lighting", lighting) for form in forms})
    for style, forms in STYLE_FORMS.items():
        table.update({form: ("style", style) for form in forms})
    table.update({word: ("background", "") for word in BACKGROUND_WORDS})
    table.update({word: ("count", str(n)) for word, n in NUMBER_WORDS.items()})
    table.update({word: ("filler", "") for word in FILLER_WORDS})
    return {tuple(phrase.replace("-", " ").split()): meaning for phrase, meaning in table.items()}


def vocabulary() -> list[str]:
    """All single words Shapes World knows, sorted (for a tokenizer's word list)."""
    return sorted({word for phrase in lexicon() for word in phrase})
