"""Fill a folder's gaps: the exact images to add per attribute combination, and writing
them resumably.

A plan balances the combinations of the attributes `by` (say colour and shape) by
adding images only, never removing: towards uniform, every combination is brought up
to the largest one's count; towards a reference folder's shares q, the folder grows
to the smallest size N at which every combination's share can reach q (N = max n_c /
q_c), and each combination gets ceil(N q_c) - n_c images. Each added image holds one
object, so it adds exactly one to its combination; what `by` does not fix (position,
other attributes) is drawn from the image's own seed.

By default only combinations the folder already has are balanced: a dataset may hold
some out on purpose (Shapes World's compositional split), and filling them would
break that. `all_values` spreads the target over every combination instead.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.data.attributes import OBJECT_ATTRIBUTES, VALUES, Attributes
from genlab.world.vocab import LIGHTING_PHRASES

# Attributes a prompt can fix exactly; count and labels cannot be generated to order.
GENERATABLE = ("shape", "colour", "size", "background", "lighting", "style")
MAX_IMAGES = 1_000_000
METADATA = "metadata.jsonl"
PLAN = "plan.json"


@dataclass(frozen=True)
class Plan:
    by: tuple[str, ...]
    counts: dict[str, int]  # combination key -> images (objects) the folder has
    target: dict[str, float]  # combination key -> target share
    add: dict[str, int]  # combination key -> images to add
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.add.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": list(self.by),
            "counts": self.counts,
            "target": self.target,
            "add": self.add,
            "total": self.total,
            "warnings": self.warnings,
        }


def parse_by(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise InvalidRequest("--by", text, f"name one or more of {', '.join(GENERATABLE)}")
    for name in names:
        if name not in GENERATABLE:
            raise InvalidRequest("--by", name, f"must be among {', '.join(GENERATABLE)}")
    return names


def key(values: Sequence[str]) -> str:
    return " ".join(values)


def combinations(item: Attributes, by: Sequence[str]) -> list[str]:
    """The combination keys `item` adds to: one per object when `by` names an object
    attribute, one per image otherwise; none where an attribute is left open."""
    rows = list(item.objects) if any(b in OBJECT_ATTRIBUTES for b in by) else [{}]
    found = []
    for obj in rows:
        values = [obj.get(b) if b in OBJECT_ATTRIBUTES else item.scene.get(b) for b in by]
        if all(values):
            found.append(key(values))
    return found


def count(items: Sequence[Attributes], by: Sequence[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in items:
        counts.update(combinations(item, by))
    return counts


def make_plan(
    items: Sequence[Attributes],
    by: Sequence[str],
    reference: Sequence[Attributes] | None = None,
    *,
    all_values: bool = False,
) -> Plan:
    by = tuple(by)
    counts = count(items, by)
    if not counts:
        raise GenlabError(f"no image of the folder states {', '.join(by)}: nothing to balance")
    warnings: list[str] = []
    if reference is None:
        support = _all(by) if all_values else sorted(counts)
        target = {c: 1 / len(support) for c in support}
    else:
        wanted = count(reference, by)
        if not wanted:
            raise GenlabError(f"the reference folder states no {', '.join(by)}")
        total = sum(wanted.values())
        target = {c: n / total for c, n in sorted(wanted.items())}
        extra = sorted(set(counts) - set(target))
        if extra:
            warnings.append(
                f"{len(extra)} combinations the reference lacks cannot be removed by adding "
                f"images and are left as they are: {', '.join(extra[:5])}"
            )
    invisible = [c for c in target if _invisible(by, c)]
    if invisible:
        warnings.append(f"skipped {len(invisible)} combinations drawn in their background colour")
        target = {c: s for c, s in target.items() if c not in invisible}
        scale = sum(target.values())
        target = {c: s / scale for c, s in target.items()}
    size = max(counts.get(c, 0) / share for c, share in target.items())
    # A hair under 1 absorbs float error in N * q_c, so exact shares need no extra image.
    add = {
        c: max(0, math.ceil(size * share - 1e-9) - counts.get(c, 0)) for c, share in target.items()
    }
    plan = Plan(by, {c: counts.get(c, 0) for c in target}, target, add, warnings)
    if plan.total > MAX_IMAGES:
        raise GenlabError(f"the plan needs {plan.total} images, over the limit of {MAX_IMAGES}")
    return plan


def _all(by: Sequence[str]) -> list[str]:
    return [key(values) for values in itertools.product(*(VALUES[b] for b in by))]


def _invisible(by: Sequence[str], combination: str) -> bool:
    values = dict(zip(by, combination.split(" ")))
    return "colour" in values and values["colour"] == values.get("background")


def prompt_for(by: Sequence[str], combination: str) -> str:
    """A Shapes World prompt that fixes exactly `combination` and one object."""
    values = dict(zip(by, combination.split(" ")))
    words = [values.get("size", ""), values.get("colour", ""), values.get("shape", "")]
    obj = " ".join(w for w in words if w) or "shape"
    text = f"one {obj}"
    if "background" in values:
        text += f" on a {values['background']} background"
    if "lighting" in values:
        text += " " + LIGHTING_PHRASES[values["lighting"]][0]
    if "style" in values:
        text += f", {values['style']} style"
    return text


# (combination, prompt, seed) -> (image, scene dict or None, caption, extra row fields)
Draw = Callable[[str, str, int], tuple[Any, dict | None, str, dict[str, Any]]]


def image_seed(seed: int, combination: str, index: int) -> int:
    """The seed of image `index` of `combination`: stable across runs, so a resumed run
    draws the images an uninterrupted one would have."""
    digest = hashlib.sha256(f"{seed}\0{combination}\0{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def write(
    plan: Plan,
    out: Path,
    draw: Draw,
    *,
    seed: int = 0,
    fields: Sequence[str] = ("text", "scene"),
    on_image: Callable[[int, int], None] | None = None,
) -> int:
    """Write the plan's images into `out` (images/ and metadata.jsonl rows with the
    `fields` the source folder uses). Images already there are kept: re-running an
    interrupted plan finishes it. Returns how many images were written now."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    (out / PLAN).write_text(json.dumps(plan.to_dict(), indent=2))
    done = _done(out / METADATA)
    written, total = 0, plan.total
    progress = sum(min(done.get(c, 0), n) for c, n in plan.add.items())
    with (out / METADATA).open("a", encoding="utf-8") as rows:
        for combination, needed in plan.add.items():
            for index in range(done.get(combination, 0), needed):
                image_seed_ = image_seed(seed, combination, index)
                prompt = prompt_for(plan.by, combination)
                image, scene, text, extra = draw(combination, prompt, image_seed_)
                name = f"images/{_slug(combination)}-{index:05d}.png"
                tmp = out / f"{name}.tmp"
                image.save(tmp, format="PNG")
                os.replace(tmp, out / name)
                row = _row(name, text, scene, fields, plan.by, combination)
                row.update(extra)
                row["augment"] = {"combination": combination, "index": index, "seed": image_seed_}
                rows.write(json.dumps(row) + "\n")
                rows.flush()
                written += 1
                progress += 1
                if on_image is not None:
                    on_image(progress, total)
    return written


def _row(name, text, scene, fields, by, combination) -> dict[str, Any]:
    row: dict[str, Any] = {"file_name": name}
    if "text" in fields:
        row["text"] = text
    if "scene" in fields and scene is not None:
        row["scene"] = scene
    # Label columns named after an attribute get this image's value.
    values = dict(zip(by, combination.split(" ")))
    for label in fields:
        if label in values:
            row[label] = values[label]
    return row


def _done(metadata: Path) -> Counter[str]:
    """Images per combination already written; a torn last row is cut off."""
    done: Counter[str] = Counter()
    if not metadata.exists():
        return done
    data = metadata.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        metadata.write_bytes(keep)
    for line in keep.decode("utf-8", errors="replace").splitlines():
        try:
            done[json.loads(line)["augment"]["combination"]] += 1
        except (json.JSONDecodeError, KeyError, TypeError):
            raise GenlabError(f"{metadata} has rows this command did not write") from None
    return done


def _slug(combination: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", combination.lower()).strip("-") or "any"
