"""Each image's Shapes World attributes, and the distributions they make.

Sources, best first: the row's scene graph (exact), its caption read by the Shapes
World parser, or, for an image with neither, the `shapes` encoder's prediction.
Labels (other string fields of a row) are counted as they are, under `label:KEY`.

Units: object attributes (shape, colour, size and the colour+shape pair) count
objects, so a scene of two red circles adds two to "red circle"; scene attributes
(background, lighting, style, count) count images. A caption that leaves an attribute
open ("a circle") counts under neither value: the distribution is over what is known,
and `Attributes.open` says how many objects were left open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from genlab.core.errors import GenlabError
from genlab.world.parse import parse_prompt
from genlab.world.scene import Scene
from genlab.world.vocab import COLOURS, LIGHTINGS, SHAPES, SIZES, STYLES

OBJECT_ATTRIBUTES = ("shape", "colour", "size")
SCENE_ATTRIBUTES = ("background", "lighting", "style", "count")
PAIR = "colour+shape"
# Every value a Shapes World attribute can take: a target distribution spreads over
# these, not only over the values a skewed folder happens to contain.
VALUES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": tuple(COLOURS),
    "size": SIZES,
    "background": tuple(COLOURS),
    "lighting": LIGHTINGS,
    "style": STYLES,
    "count": ("1", "2", "3"),
}


class UnreadableCaption(GenlabError):
    """A caption or scene that cannot be read into attributes."""


@dataclass(frozen=True)
class Attributes:
    source: str  # "scene", "caption", "predicted", "labels"
    objects: tuple[dict[str, str | None], ...] = ()
    scene: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def from_scene(data: dict) -> Attributes:
    scene = Scene.from_dict(data)  # InvalidRequest names what is wrong
    objects = tuple({"shape": o.shape, "colour": o.colour, "size": o.size} for o in scene.objects)
    return Attributes(
        "scene", objects, _setting(scene.background, scene.lighting, scene.style, len(objects))
    )


def from_caption(text: str) -> Attributes:
    """The attributes a caption states; UnreadableCaption when the parser cannot read it
    (words outside the vocabulary, too many objects, no object at all)."""
    from genlab.core.errors import InvalidRequest

    try:
        parsed = parse_prompt(text)
    except InvalidRequest as err:
        raise UnreadableCaption(f"caption cannot be parsed: {err}") from None
    if parsed.unknown_words:
        words = ", ".join(parsed.unknown_words[:5])
        raise UnreadableCaption(f"caption has words outside the Shapes World vocabulary: {words}")
    spec = parsed.scene_spec
    if not spec.objects:
        raise UnreadableCaption("caption names no object")
    objects = tuple({"shape": o.shape, "colour": o.colour, "size": o.size} for o in spec.objects)
    return Attributes(
        "caption", objects, _setting(spec.background, spec.lighting, spec.style, len(objects))
    )


def from_prediction(heads: dict[str, Sequence[float]], threshold: float = 0.5) -> Attributes:
    """Attributes from the `shapes` encoder's head outputs for one image (probabilities:
    softmax for single-label heads, sigmoid for multi-label ones). The pair head binds
    colour to shape; sizes are not bound to objects by the encoder, so they stay open."""
    from genlab.metrics.shapes_encoder_net import PAIRS

    count = 1 + max(range(len(heads["count"])), key=lambda i: heads["count"][i])
    ranked = sorted(range(len(PAIRS)), key=lambda i: -heads["objects"][i])
    chosen = [i for i in ranked if heads["objects"][i] >= threshold][:count] or ranked[:1]
    objects = tuple({"shape": PAIRS[i][0], "colour": PAIRS[i][1], "size": None} for i in chosen)
    background = tuple(COLOURS)[_argmax(heads["background"])]
    return Attributes(
        "predicted",
        objects,
        _setting(
            background,
            LIGHTINGS[_argmax(heads["lighting"])],
            STYLES[_argmax(heads["style"])],
            count,
        ),
    )


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: values[i])


def _setting(background, lighting, style, count: int) -> dict[str, str | None]:
    return {"background": background, "lighting": lighting, "style": style, "count": str(count)}


def attribute_names(items: Iterable[Attributes]) -> list[str]:
    """The attributes present in `items`: Shapes World ones, the pair, then labels."""
    items = list(items)
    names: list[str] = []
    if any(a.objects for a in items):
        names += [*OBJECT_ATTRIBUTES, PAIR]
    if any(a.scene for a in items):
        names += list(SCENE_ATTRIBUTES)
    names += sorted({f"label:{key}" for a in items for key in a.labels})
    return names


def values_of(item: Attributes, name: str) -> list[str]:
    """The values `item` adds to attribute `name` (one per object for object
    attributes, at most one for scene attributes and labels; none when open)."""
    if name == PAIR:
        return [f"{o['colour']} {o['shape']}" for o in item.objects if o["colour"] and o["shape"]]
    if name in OBJECT_ATTRIBUTES:
        return [o[name] for o in item.objects if o[name]]
    if name.startswith("label:"):
        value = item.labels.get(name[len("label:") :])
        return [value] if value is not None else []
    value = item.scene.get(name)
    return [value] if value else []


def distribution(items: Iterable[Attributes], name: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in items:
        counts.update(values_of(item, name))
    return counts


def support(name: str, observed: Iterable[str] = ()) -> list[str]:
    """The values attribute `name` can take: the full Shapes World vocabulary for its
    attributes (pairs: every colour with every shape), else the values observed."""
    if name == PAIR:
        return [f"{c} {s}" for c in COLOURS for s in SHAPES]
    if name in VALUES:
        return list(VALUES[name])
    return sorted(set(observed))
