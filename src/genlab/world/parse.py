"""Read a prompt back into a (partial) Shapes World scene.

The grammar is the captioner's, read leniently:
- an object is `[count] [size] [colour] shape` with adjectives in any order; "stars"
  alone means two; adjectives with no shape ("something red") make an object whose
  shape is left open;
- relation words split a clause into groups: "A and B above C" puts each of A, B
  above C; "A left of B above C" chains (A left of B, B above C); "." and ";" end a
  clause, so "A left of B; C" leaves C unrelated;
- lighting, style and background phrases may appear anywhere ("on a blue background",
  "blue background", "at night", "in watercolour style", "a watercolor painting of").

Words outside the vocabulary are returned, never silently dropped; a prompt asking
for more than MAX_OBJECTS objects, or two colours for one object, is refused.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from genlab.core.errors import InvalidRequest
from genlab.prompts.schedule import reading
from genlab.prompts.syntax import plain_text
from genlab.world.scene import (
    ObjectSpec,
    Relation,
    Scene,
    SceneSpec,
    ShapeObject,
    background_choices,
    layout,
    random_relations,
)
from genlab.world.vocab import COLOURS, LIGHTINGS, MAX_OBJECTS, SHAPES, SIZES, STYLES, lexicon

# A number with a point ("0.3", a weight or a `when` left as text) is one token, so
# that it is never read as two counts.
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+(?:\.\d+)?|\.\d+|[.;,]")


@dataclass(frozen=True)
class ParseResult:
    scene_spec: SceneSpec
    unknown_words: list[str] = field(default_factory=list)  # in order, each once


def parse_prompt(text: str) -> ParseResult:
    """The scene a prompt asks for; what it leaves unsaid stays None."""
    return _Reader(text).read()


def scene_from_prompt(text: str, rng: random.Random) -> tuple[Scene, list[str]]:
    """A full scene for `text`: what the prompt leaves open is drawn from `rng` (seed it
    per image), then objects are laid out so the relations hold."""
    result = parse_prompt(text)
    spec = result.scene_spec
    objects, relations = list(spec.objects), list(spec.relations)
    if not objects:  # "at night" alone: any objects, related as random scenes are
        count = rng.choices([1, 2, 3], [2, 4, 4])[0]
        objects, relations = [ObjectSpec()] * count, random_relations(count, rng)
    # A prompt that names colours never gets monochrome by chance: it would erase them.
    named_colours = spec.background or any(o.colour for o in objects)
    styles = [s for s in STYLES if s != "monochrome"] if named_colours else list(STYLES)
    style = spec.style or rng.choice(styles)
    lighting = spec.lighting or rng.choice(LIGHTINGS)
    shapes = [o.shape or rng.choice(SHAPES) for o in objects]
    sizes = [o.size or rng.choice(SIZES) for o in objects]
    # Keep shapes visible: open colours avoid a given background and vice versa.
    free = [c for c in COLOURS if c != spec.background] if spec.background else list(COLOURS)
    colours = [o.colour or rng.choice(free) for o in objects]
    background = spec.background or rng.choice(background_choices(colours, style))
    centres = layout(sizes, relations, rng)
    scene = Scene(
        objects=tuple(
            ShapeObject(shape, colour, size, x, y)
            for shape, colour, size, (x, y) in zip(shapes, colours, sizes, centres)
        ),
        relations=tuple(relations),
        background=background,
        lighting=lighting,
        style=style,
    )
    return scene, result.unknown_words


def plain_words(text: str) -> list[str]:
    """Lower-case tokens with A1111 weights, brackets and BREAK removed. A scene has
    no steps: prompt editing reads as its final text, alternation as its first
    option, and of `A AND B` only A is drawn (`prompts.schedule.reading`)."""
    text = plain_text(reading(text))
    return _TOKEN.findall(text.lower().replace("-", " ").replace("_", " "))


def _phrases(words: list[str]) -> list[tuple[str, str, str]]:
    """Longest-match the words against the lexicon: (kind, value, original words)."""
    table = lexicon()
    longest = max(len(p) for p in table)
    found, i = [], 0
    while i < len(words):
        if words[i] in (".", ";"):
            found.append(("break", "", words[i]))
            i += 1
            continue
        if words[i] == ",":
            found.append(("comma", "", ","))
            i += 1
            continue
        for n in range(min(longest, len(words) - i), 0, -1):
            meaning = table.get(tuple(words[i : i + n]))
            if meaning is not None:
                found.append((*meaning, " ".join(words[i : i + n])))
                i += n
                break
        else:
            kind = "count" if words[i].isdigit() else "unknown"  # "0.3" is no count
            found.append((kind, words[i] if kind == "count" else "", words[i]))
            i += 1
    return found


class _Reader:
    """One pass over the phrases; `groups`/`links` hold the clause being read."""

    def __init__(self, text: str):
        self.text = text
        self.objects: list[ObjectSpec] = []
        self.asked = 0  # objects asked for, counted before building them
        self.relations: list[Relation] = []
        self.unknown: list[str] = []
        self.setting: dict[str, str | None] = {"background": None, "lighting": None, "style": None}
        self.groups: list[list[int]] = [[]]
        self.links: list[tuple[str, str]] = []  # (relation, its words) between groups
        self.count: tuple[int, str] | None = None
        self.sizes: list[str] = []
        self.colours: list[str] = []

    def read(self) -> ParseResult:
        phrases = _phrases(plain_words(self.text))
        wants_colour = False  # "background" came with no colour before it: "background blue"
        for at, (kind, value, words) in enumerate(phrases):
            if kind == "filler":
                continue
            after_bare_background, wants_colour = wants_colour, False
            if kind == "colour" and after_bare_background and not _starts_object(phrases[at + 1 :]):
                self._set("background", value)
            elif kind == "colour":
                self.colours.append(value)
            elif kind == "background":
                if self.colours:
                    self._set("background", self.colours.pop())
                else:
                    wants_colour = True
            elif kind == "size":
                self.sizes.append(value)
            elif kind == "count" and not _counts_something(phrases[at + 1 :]):
                self._unknown(words)  # a stray number ("a red circle 5") counts nothing
            elif kind == "count":
                if self.count or self.sizes or self.colours:
                    self._flush()
                self.count = (int(value), words)
            elif kind in ("shape", "shapes"):
                self._add(value, default_count=2 if kind == "shapes" else 1)
            elif kind == "relation":
                self._flush()
                if self.groups[-1]:
                    self.links.append((value, words))
                    self.groups.append([])
                else:  # nothing before it to relate
                    self._unknown(words)
            elif kind in ("lighting", "style"):
                self._set(kind, value)
            elif kind == "break":
                self._end_clause()
            elif kind == "unknown":
                self._unknown(words)
        self._end_clause()
        if self.asked > MAX_OBJECTS:
            raise InvalidRequest(
                "prompt",
                self.text,
                f"Shapes World draws 1 to {MAX_OBJECTS} objects, not {self.asked}",
            )
        spec = SceneSpec(tuple(self.objects), tuple(self.relations), **self.setting)
        return ParseResult(spec, self.unknown)

    def _add(self, shape: str | None, default_count: int = 1) -> None:
        count = self.count[0] if self.count else default_count
        if count < 1:
            raise InvalidRequest(
                "prompt", self.text, f"counts must be 1 to {MAX_OBJECTS}, not {count}"
            )
        colour = _one("colour", self.colours, self.text)
        size = _one("size", self.sizes, self.text)
        self.asked += count
        if self.asked <= MAX_OBJECTS:
            for _ in range(count):
                self.groups[-1].append(len(self.objects))
                self.objects.append(ObjectSpec(shape, colour, size))
        self.count, self.sizes, self.colours = None, [], []

    def _flush(self) -> None:
        """Adjectives with no shape after them still ask for an object ("a red one")."""
        if self.count or self.sizes or self.colours:
            self._add(None)

    def _end_clause(self) -> None:
        self._flush()
        if len(self.groups) > 1 and not self.groups[-1]:  # "a red circle above" + nothing
            self._unknown(self.links.pop()[1])
            self.groups.pop()
        for (relation, _), left, right in zip(self.links, self.groups, self.groups[1:]):
            self.relations.extend(Relation(a, relation, b) for a in left for b in right)
        self.groups, self.links = [[]], []

    def _set(self, name: str, value: str) -> None:
        old = self.setting[name]
        if old is not None and old != value:
            raise InvalidRequest(
                "prompt", self.text, f"one {name} per image, got {old} and {value}"
            )
        self.setting[name] = value

    def _unknown(self, words: str) -> None:
        if words not in self.unknown:
            self.unknown.append(words)


def _starts_object(rest: list[tuple[str, str, str]]) -> bool:
    """Whether a colour followed by `rest` describes a shape rather than the background
    before it: "background red small circle" is a red circle, "background blue red
    circle" a red circle on blue."""
    for kind, _, _ in rest:
        if kind not in ("filler", "size"):
            return kind in ("shape", "shapes")
    return False


def _counts_something(rest: list[tuple[str, str, str]]) -> bool:
    """Whether a count is followed by what it counts: a shape or its adjectives."""
    for kind, _, _ in rest:
        if kind != "filler":
            return kind in ("shape", "shapes", "size", "colour")
    return False


def _one(name: str, values: list[str], text: str) -> str | None:
    distinct = list(dict.fromkeys(values))
    if len(distinct) > 1:
        raise InvalidRequest("prompt", text, f"one {name} per object, got {' and '.join(distinct)}")
    return distinct[0] if distinct else None
