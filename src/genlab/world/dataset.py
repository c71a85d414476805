"""Shapes World datasets: balanced training scenes and a held-out compositional split.

A fixed list of colour-shape pairs and shape-relation-shape triples never appears in
training scenes, so a model trained on them can be tested on combinations it has
never seen ("a red triangle" when it only saw red things and triangles apart).

The training set is balanced: scene i's first object cycles through every allowed
(shape, colour, size), its relations cycle through every relation, and object counts
1-3 alternate, so every combination appears about equally often at any size `n`.
On disk it is a Hugging Face "imagefolder": `images/000000.png` … plus
`metadata.jsonl` with `file_name`, `text` (a caption) and `scene` (the scene graph).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.world.caption import caption
from genlab.world.render import render
from genlab.world.scene import Relation, Scene, dress_scene, layout, random_relations
from genlab.world.vocab import COLOURS, RELATIONS, SHAPES, SIZES

log = logging.getLogger(__name__)

# (colour, shape) pairs no training scene contains: each colour and each shape is
# still seen in training, just never together.
HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("red", "triangle"),
        ("blue", "star"),
        ("green", "heart"),
        ("yellow", "hexagon"),
        ("purple", "circle"),
        ("orange", "square"),
        ("cyan", "triangle"),
        ("pink", "hexagon"),
    }
)
# (shape, relation, shape) facts, stated with left_of/above only (see
# Relation.normalised): "a square below a circle" is ("circle", "above", "square").
HELD_OUT_RELATIONS: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("circle", "above", "square"),
        ("star", "left_of", "triangle"),
        ("heart", "above", "hexagon"),
        ("triangle", "left_of", "circle"),
    }
)


def held_out_parts(scene: Scene) -> list[str]:
    """The held-out combinations `scene` contains (empty for a training scene)."""
    found = [
        f"{o.colour} {o.shape}" for o in scene.objects if (o.colour, o.shape) in HELD_OUT_PAIRS
    ]
    for rel in scene.relations:
        n = rel.normalised()
        fact = (
            scene.objects[n.subject_index].shape,
            n.relation,
            scene.objects[n.object_index].shape,
        )
        if fact in HELD_OUT_RELATIONS:
            found.append(" ".join(fact))
    return found


def allowed_kinds() -> list[tuple[str, str, str]]:
    """Every (shape, colour, size) a training scene may contain."""
    return [
        (shape, colour, size)
        for shape, colour, size in itertools.product(SHAPES, COLOURS, SIZES)
        if (colour, shape) not in HELD_OUT_PAIRS
    ]


def training_scenes(n: int, seed: int = 0) -> Iterator[Scene]:
    """`n` balanced training scenes, reproducible from `seed`."""
    rng = random.Random(seed)
    kinds = allowed_kinds()
    rng.shuffle(kinds)
    made = 0
    while made < n:
        scene = _balanced_scene(made, kinds, rng)
        if scene is not None and not held_out_parts(scene):
            made += 1
            yield scene


def _balanced_scene(
    index: int, kinds: list[tuple[str, str, str]], rng: random.Random
) -> Scene | None:
    count = 1 + index % 3
    relations = random_relations(count, rng)
    if relations:  # cycle the first relation through all four
        first = relations[0]
        relation = RELATIONS[(index // 3) % len(RELATIONS)]
        relations[0] = Relation(first.subject_index, relation, first.object_index)
    chosen = [kinds[index % len(kinds)], *(rng.choice(kinds) for _ in range(count - 1))]
    if count == 3 and rng.random() < 0.4:  # identical neighbours teach counting
        chosen[1] = chosen[0]
    try:
        centres = layout([size for _, _, size in chosen], relations, rng, strict=True)
    except InvalidRequest:
        return None  # no room for these sizes in this arrangement: try the next draw
    return dress_scene(chosen, centres, relations, rng)


def export(
    out: Path,
    n: int,
    size: int,
    *,
    seed: int = 0,
    on_image: Callable[[int], None] | None = None,
) -> Path:
    """Write `n` balanced training scenes as an imagefolder under `out`.

    Rows are appended as images are written, and an existing folder continues where
    it stopped, so an interrupted export loses nothing and re-running finishes it."""
    if n < 1:
        raise InvalidRequest("n", n, "must be at least 1")
    if size % 8 or not 8 <= size <= 1024:
        raise InvalidRequest("size", size, "must be a multiple of 8 from 8 to 1024")
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    metadata = out / "metadata.jsonl"
    done = _rows_written(metadata)
    if done > n:
        raise GenlabError(f"{out} already holds {done} images, more than --n {n}")
    rng = random.Random(seed + 1)  # render noise, separate from scene choice
    with metadata.open("a", encoding="utf-8") as rows:
        for i, scene in enumerate(training_scenes(n, seed)):
            text = caption(scene, rng)
            image = render(scene, size, size, rng=rng)
            if i < done:
                continue  # already on disk; the draws above keep the stream identical
            name = f"images/{i:06d}.png"
            tmp = out / f"{name}.tmp"
            image.save(tmp, format="PNG")
            os.replace(tmp, out / name)
            row = {"file_name": name, "text": text, "scene": scene.to_dict()}
            rows.write(json.dumps(row) + "\n")
            rows.flush()
            if on_image is not None:
                on_image(i + 1)
    (out / "split.json").write_text(
        json.dumps(
            {
                "n": n,
                "size": size,
                "seed": seed,
                "held_out_pairs": sorted(map(list, HELD_OUT_PAIRS)),
                "held_out_relations": sorted(map(list, HELD_OUT_RELATIONS)),
            },
            indent=2,
        )
    )
    return out


def _rows_written(metadata: Path) -> int:
    """Complete rows already in metadata.jsonl; a torn last line is cut off."""
    if not metadata.exists():
        return 0
    data = metadata.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        metadata.write_bytes(keep)
    return keep.count(b"\n")
