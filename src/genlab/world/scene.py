"""The Shapes World scene graph: exact, validated and JSON-serialisable.

A `Scene` is what an image shows: 1-3 shapes with colour, size and centre, spatial
relations between them, and the background, lighting and style. The renderer draws it,
the captioner describes it, the parser rebuilds it from a prompt and a detector will
later recover it from pixels, so every field is a closed vocabulary or a number.

Geometry, in units chosen so a layout holds at any aspect ratio:
- x, y: the object's centre, relative to width and height (0..1), y grows downwards;
- an object's box is a square of half-side `SIZE_EXTENT[size]` times min(width, height).
Because the extent uses the shorter side, a layout valid in relative units stays valid
(never more overlap, never outside) on a non-square canvas.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from genlab.core.errors import InvalidRequest
from genlab.world.vocab import (
    COLOURS,
    INVERSE,
    LIGHTINGS,
    MAX_OBJECTS,
    RELATIONS,
    SHAPES,
    SIZES,
    STYLES,
)

# Half-side of an object's box, as a fraction of the image's shorter side. Large is
# 0.15 so three large objects still fit side by side with gaps (3 * 0.30 < 1 - edges).
SIZE_EXTENT: dict[str, float] = {"small": 0.07, "medium": 0.105, "large": 0.15}
EDGE = 0.02  # keep boxes this far inside the image
GAP = 0.03  # strict layouts keep boxes this far apart
# A relation "holds" when the centres differ by at least this much along its axis and
# more along that axis than across it, so "left of" never looks like "above".
REL_MARGIN = 0.1
# In monochrome a background must differ this much in luma (0-255) to show a shape.
MONO_CONTRAST = 40


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    colour: str
    size: str
    x: float  # centre, 0..1 of the width
    y: float  # centre, 0..1 of the height, downwards

    def __post_init__(self) -> None:
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("colour", self.colour, tuple(COLOURS))
        _check_choice("size", self.size, SIZES)
        for name in ("x", "y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequest(name, value, "must be a number from 0 to 1")
            if not 0.0 <= value <= 1.0:
                raise InvalidRequest(name, value, "must be a number from 0 to 1")
            object.__setattr__(self, name, float(value))

    @property
    def extent(self) -> float:
        return SIZE_EXTENT[self.size]

    def spec(self) -> ObjectSpec:
        return ObjectSpec(self.shape, self.colour, self.size)


@dataclass(frozen=True)
class Relation:
    """objects[subject_index] <relation> objects[object_index]."""

    subject_index: int
    relation: str
    object_index: int

    def __post_init__(self) -> None:
        _check_choice("relation", self.relation, RELATIONS)
        for name in ("subject_index", "object_index"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(name, value, "must be an object index (0, 1 or 2)")
        if self.subject_index == self.object_index:
            raise InvalidRequest("relation", self, "must relate two different objects")

    def normalised(self) -> Relation:
        """The same fact stated with left_of/above only (B right of A = A left of B)."""
        if self.relation in ("right_of", "below"):
            return Relation(self.object_index, INVERSE[self.relation], self.subject_index)
        return self


@dataclass(frozen=True)
class ObjectSpec:
    """An object as a prompt describes it: None where the prompt says nothing."""

    shape: str | None = None
    colour: str | None = None
    size: str | None = None


@dataclass(frozen=True)
class SceneSpec:
    """A partial scene: what a prompt fixes. Unmentioned attributes are None."""

    objects: tuple[ObjectSpec, ...] = ()
    relations: tuple[Relation, ...] = ()
    background: str | None = None
    lighting: str | None = None
    style: str | None = None

    def signature(self) -> tuple[Any, ...]:
        """A comparable summary that ignores object order and relation phrasing.

        Two specs with the same signature describe the same picture: the same multiset
        of objects, the same facts between object descriptions, the same setting.
        """

        def describe(obj: ObjectSpec) -> tuple[str, str, str]:
            return (obj.shape or "", obj.colour or "", obj.size or "")

        objects = sorted(describe(o) for o in self.objects)
        facts = sorted(
            (
                describe(self.objects[r.subject_index]),
                r.relation,
                describe(self.objects[r.object_index]),
            )
            for r in {rel.normalised() for rel in self.relations}
        )
        return (tuple(objects), tuple(facts), self.background, self.lighting, self.style)


@dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeObject, ...]
    relations: tuple[Relation, ...] = field(default_factory=tuple)
    background: str = "white"
    lighting: str = "noon"
    style: str = "flat"

    def __post_init__(self) -> None:
        objects = tuple(self.objects)
        if not 1 <= len(objects) <= MAX_OBJECTS:
            raise InvalidRequest("objects", len(objects), f"a scene has 1 to {MAX_OBJECTS}")
        object.__setattr__(self, "objects", objects)
        relations = tuple(self.relations)
        for rel in relations:
            for index in (rel.subject_index, rel.object_index):
                if not 0 <= index < len(objects):
                    raise InvalidRequest(
                        "relation", rel, f"indices must be 0 to {len(objects) - 1}"
                    )
        object.__setattr__(self, "relations", relations)
        _check_choice("background", self.background, tuple(COLOURS))
        _check_choice("lighting", self.lighting, LIGHTINGS)
        _check_choice("style", self.style, STYLES)

    def spec(self) -> SceneSpec:
        return SceneSpec(
            tuple(o.spec() for o in self.objects),
            self.relations,
            self.background,
            self.lighting,
            self.style,
        )

    def relations_hold(self, margin: float = REL_MARGIN) -> bool:
        return all(
            relation_holds(
                self.objects[r.subject_index], r.relation, self.objects[r.object_index], margin
            )
            for r in self.relations
        )

    # -- JSON ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": [
                {"shape": o.shape, "colour": o.colour, "size": o.size, "x": o.x, "y": o.y}
                for o in self.objects
            ],
            "relations": [
                {
                    "subject_index": r.subject_index,
                    "relation": r.relation,
                    "object_index": r.object_index,
                }
                for r in self.relations
            ],
            "background": self.background,
            "lighting": self.lighting,
            "style": self.style,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        try:
            return cls(
                objects=tuple(ShapeObject(**o) for o in data["objects"]),
                relations=tuple(Relation(**r) for r in data.get("relations", ())),
                background=data["background"],
                lighting=data["lighting"],
                style=data["style"],
            )
        except (KeyError, TypeError) as err:
            raise InvalidRequest(
                "scene", type(err).__name__, f"not a Shapes World scene dict ({err})"
            ) from None


def relation_holds(
    a: ShapeObject, relation: str, b: ShapeObject, margin: float = REL_MARGIN
) -> bool:
    """Whether `a relation b` reads clearly from the centres (see REL_MARGIN)."""
    dx, dy = b.x - a.x, b.y - a.y  # from a to b
    along, across = {
        "left_of": (dx, dy),
        "right_of": (-dx, dy),
        "above": (dy, dx),
        "below": (-dy, dx),
    }[relation]
    return along >= margin and along >= abs(across)


def boxes_apart(a: ShapeObject, b: ShapeObject, gap: float = GAP) -> bool:
    """Whether the objects' boxes are at least `gap` apart on some axis."""
    reach = a.extent + b.extent + gap
    return abs(a.x - b.x) >= reach or abs(a.y - b.y) >= reach


# -- sampling -------------------------------------------------------------------------

# Box overlap allowed, as a fraction of the two half-sides, at each relaxation step:
# strict first (apart by GAP), then gradually closer when the relations leave no room.
_OVERLAP_STEPS = (None, 0.15, 0.3, 0.5, 0.75, 1.0)
_TRIES_PER_STEP = 400


def layout(
    sizes: Sequence[str],
    relations: Sequence[Relation],
    rng: random.Random,
    *,
    strict: bool = False,
) -> list[tuple[float, float]]:
    """Centres for objects of `sizes` that satisfy `relations` with REL_MARGIN.

    Boxes are kept GAP apart when possible; otherwise (e.g. three large objects in a
    row) overlap is allowed step by step, unless `strict`, which raises instead.
    """
    steps = _OVERLAP_STEPS[:1] if strict else _OVERLAP_STEPS
    for overlap in steps:
        for _ in range(_TRIES_PER_STEP):
            # Only size and centre matter for placement; shape and colour are stand-ins.
            objects = [
                ShapeObject("circle", "red", size, *_random_centre(size, rng)) for size in sizes
            ]
            if _fits(objects, relations, overlap):
                return [(o.x, o.y) for o in objects]
    raise InvalidRequest(
        "relations",
        [f"{r.subject_index} {r.relation} {r.object_index}" for r in relations],
        f"cannot place {len(sizes)} objects of sizes {', '.join(sizes)} so that all hold",
    )


def _random_centre(size: str, rng: random.Random) -> tuple[float, float]:
    low = SIZE_EXTENT[size] + EDGE
    # Rounded so JSON stays short; checks run on the rounded values.
    return round(rng.uniform(low, 1 - low), 4), round(rng.uniform(low, 1 - low), 4)


def _fits(objects: list[ShapeObject], relations: Sequence[Relation], overlap: float | None) -> bool:
    for i, a in enumerate(objects):
        for b in objects[i + 1 :]:
            if overlap is None:
                if not boxes_apart(a, b):
                    return False
            elif not boxes_apart(a, b, gap=-overlap * (a.extent + b.extent)):
                return False
    return all(
        relation_holds(objects[r.subject_index], r.relation, objects[r.object_index])
        for r in relations
    )


def random_relations(count: int, rng: random.Random) -> list[Relation]:
    """Relations for `count` objects in a shape a caption can say in one clause each:
    none, a pair, a chain (A r B r' C), or a group against one (A and B r C / A r B and C)."""
    rel = rng.choice
    if count == 1:
        return []
    if count == 2:
        return [Relation(0, rel(RELATIONS), 1)] if rng.random() < 0.85 else []
    kind = rng.choices(["none", "pair", "chain", "many_to_one", "one_to_many"], [1, 1, 3, 3, 2])[0]
    if kind == "none":
        return []
    if kind == "pair":  # the third object stands apart
        return [Relation(0, rel(RELATIONS), 1)]
    if kind == "chain":
        return [Relation(0, rel(RELATIONS), 1), Relation(1, rel(RELATIONS), 2)]
    r = rel(RELATIONS)
    if kind == "many_to_one":
        return [Relation(0, r, 2), Relation(1, r, 2)]
    return [Relation(0, r, 1), Relation(0, r, 2)]


def random_scene(rng: random.Random) -> Scene:
    """A valid scene: relations hold with REL_MARGIN and boxes stay GAP apart."""
    while True:
        count = rng.choices([1, 2, 3], [2, 4, 4])[0]
        relations = random_relations(count, rng)
        kinds = [_random_kind(rng) for _ in range(count)]
        # Identical neighbours teach counting ("two small yellow stars").
        if count == 3 and rng.random() < 0.4:
            kinds[1] = kinds[0]
        try:
            centres = layout([size for _, _, size in kinds], relations, rng, strict=True)
        except InvalidRequest:
            continue  # e.g. three large shapes in a row: draw another scene
        return dress_scene(kinds, centres, relations, rng)


def dress_scene(
    kinds: Sequence[tuple[str, str, str]],
    centres: Sequence[tuple[float, float]],
    relations: Sequence[Relation],
    rng: random.Random,
) -> Scene:
    """A scene of these (shape, colour, size) objects at these centres, with style,
    a background that keeps them visible, and lighting drawn from `rng`."""
    objects = tuple(
        ShapeObject(shape, colour, size, x, y)
        for (shape, colour, size), (x, y) in zip(kinds, centres)
    )
    style = rng.choice(STYLES)
    return Scene(
        objects=objects,
        relations=tuple(relations),
        background=rng.choice(background_choices([o.colour for o in objects], style)),
        lighting=rng.choice(LIGHTINGS),
        style=style,
    )


def background_choices(colours: Sequence[str], style: str) -> list[str]:
    """Backgrounds that keep objects of `colours` visible: never an object's colour,
    and in monochrome only ones clearly lighter or darker than every object."""
    unused = [c for c in COLOURS if c not in colours]
    if style != "monochrome":
        return unused
    contrasting = [
        c for c in unused if all(abs(_luma(c) - _luma(o)) >= MONO_CONTRAST for o in colours)
    ]
    # Three objects spanning the grey scale can leave no such colour; any unused one
    # still differs in hue, so the scene stays valid, only less legible.
    return contrasting or unused


def _luma(colour: str) -> float:
    r, g, b = COLOURS[colour]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _random_kind(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(SHAPES), rng.choice(tuple(COLOURS)), rng.choice(SIZES)


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidRequest(name, value, f"must be one of {', '.join(allowed)}")
