"""A sweep: one prompt and its settings, varied along up to three axes (A1111's X/Y/Z plot).

`SweepDefinition` is what the user asked for, from flags or a TOML file. `plan()` turns
it into cells, one image each, in contact-sheet order: Z outermost, then rows (Y), then
columns (X). `batches()` groups the cells that differ only by consecutive seeds into
one model call; running them is `genlab.lab.runner`'s business.

A sweep file reads like the flags:

    prompt = "a red circle, at night"
    model = "procedural"
    width = 64
    height = 64
    x = "seed=1-4"                                  # flag syntax, or a table:
    y = { axis = "guidance_scale", values = [3, 7] }
    z = { axis = "descriptors", set = "lighting" }
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import MAX_BATCH_PIXELS, SEED_LIMIT, GenerationRequest
from genlab.lab.axes import FLOAT_FIELDS, Axis, AxisError, Point

AXIS_NAMES = ("x", "y", "z")
DEFAULT_BUDGET = 256  # images; a sweep over this asks for confirmation
# A plan this large is a typo; refusing before building it keeps the error instant.
MAX_CELLS = 100_000
# Cells per model call. Batching saves the per-call overhead, which is already small
# at 8; larger batches only raise peak memory on diffusion models.
MAX_SWEEP_BATCH = 8
# Everything a request has except batch_size: the sweep decides how cells are batched.
BASE_FIELDS = tuple(f.name for f in dataclasses.fields(GenerationRequest) if f.name != "batch_size")


class SweepError(GenlabError):
    """A sweep definition that cannot run: the message names the axis or setting."""


@dataclass(frozen=True)
class SweepDefinition:
    fields: Mapping[str, Any]  # the request fields the user set; prompt is required
    axes: Mapping[str, Axis]  # by name: "x", "y", "z"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fields) - set(BASE_FIELDS))
        if unknown:
            raise SweepError(f"unknown setting {unknown[0]!r}; allowed: {', '.join(BASE_FIELDS)}")
        if not isinstance(self.fields.get("prompt"), str):
            raise SweepError(
                "a sweep needs a prompt (the PROMPT argument or `prompt` in a sweep file)"
            )
        bad = sorted(set(self.axes) - set(AXIS_NAMES))
        if bad:
            raise SweepError(f"unknown axis {bad[0]!r}; axes are x, y and z")
        fields = {k: _normalise(k, v) for k, v in sorted(self.fields.items()) if v is not None}
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "axes", {n: self.axes[n] for n in AXIS_NAMES if n in self.axes})
        _check_repeats(self.axes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": dict(self.fields),
            "axes": {name: axis.to_dict() for name, axis in self.axes.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepDefinition:
        axes = {name: Axis.from_dict(axis) for name, axis in data.get("axes", {}).items()}
        return cls(dict(data["fields"]), axes)

    def key(self) -> str:
        """Identifies the sweep as asked for: re-running it resumes the same run."""
        text = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def resolved(self, rng: random.Random | None = None) -> SweepDefinition:
        """Random seeds (-1, or no seed at all) replaced by concrete ones, chosen once
        for the whole sweep as A1111 does, so cells differ only by what the axes vary."""
        rng = rng or random.Random()
        fields = dict(self.fields)
        if fields.get("seed", -1) == -1:
            fields["seed"] = rng.randrange(SEED_LIMIT)
        axes = dict(self.axes)
        for name, axis in self.axes.items():
            if axis.kind == "seed" and -1 in axis.values:
                values = tuple(rng.randrange(SEED_LIMIT) if v == -1 else v for v in axis.values)
                axes[name] = dataclasses.replace(axis, values=values)
        return SweepDefinition(fields, axes)


@dataclass(frozen=True)
class AxisPlan:
    name: str  # "x", "y" or "z"
    title: str  # "" for an axis the sweep does not use
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    index: int
    position: tuple[int, int, int]  # (x, y, z)
    labels: tuple[str, str, str]
    request: GenerationRequest  # one image: batch_size 1


@dataclass(frozen=True)
class Plan:
    definition: SweepDefinition
    axes: tuple[AxisPlan, AxisPlan, AxisPlan]
    cells: tuple[Cell, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.axes[0].labels), len(self.axes[1].labels), len(self.axes[2].labels))

    def __len__(self) -> int:
        return len(self.cells)

    def describe(self, cell: Cell) -> str:
        """`x=1, y=red` for the axes in use."""
        used = [(axis, label) for axis, label in zip(self.axes, cell.labels) if axis.title]
        return ", ".join(f"{axis.name}={label}" for axis, label in used)


def plan(definition: SweepDefinition, *, max_cells: int = MAX_CELLS) -> Plan:
    """Every cell with its request; raises SweepError naming the axis at fault, or
    the number of cells when it is over `max_cells` (found before any cell is built)."""
    from genlab.engines.cache import new_request

    fields = dict(definition.fields)
    new_request(**fields)  # the settings alone: their own message, no axis to name
    prompt, negative = fields["prompt"], fields.get("negative_prompt", "")
    points: list[list[Point]] = []
    plans = []
    for name in AXIS_NAMES:
        axis = definition.axes.get(name)
        if axis is None:
            points.append([Point("", {})])
            plans.append(AxisPlan(name, "", ("",)))
            continue
        try:
            found = axis.points(prompt, negative)
        except ValueError as err:
            raise SweepError(f"axis {name.upper()}: {err}") from None
        points.append(found)
        plans.append(AxisPlan(name, axis.title, tuple(p.label for p in found)))
    count = len(points[0]) * len(points[1]) * len(points[2])
    if count > max_cells:
        raise SweepError(f"cells={count} is invalid: a sweep makes at most {max_cells} images")
    for name, found in zip(AXIS_NAMES, points):
        for point in found:
            try:
                new_request(**{**fields, **point.fields})
            except InvalidRequest as err:
                raise SweepError(f"axis {name.upper()}: {err}") from None
    cells = []
    for iz, pz in enumerate(points[2]):
        for iy, py in enumerate(points[1]):
            for ix, px in enumerate(points[0]):
                chosen = (px, py, pz)
                labels = (px.label, py.label, pz.label)
                request = _cell_request(fields, chosen, definition, labels)
                cells.append(Cell(len(cells), (ix, iy, iz), labels, request))
    return Plan(definition, (plans[0], plans[1], plans[2]), tuple(cells))


def _cell_request(
    fields: dict[str, Any],
    chosen: Sequence[Point],
    definition: SweepDefinition,
    labels: Sequence[str],
) -> GenerationRequest:
    from genlab.engines.cache import new_request

    merged = dict(fields)
    for point in chosen:
        merged.update(point.fields)
    prompt, negative = fields["prompt"], merged.get("negative_prompt", "")
    # Phrase order first: it permutes the phrases as typed, before S/R or descriptors
    # change which phrases there are.
    kinds = [definition.axes[n].kind if n in definition.axes else "" for n in AXIS_NAMES]
    for _, point in sorted(zip(kinds, chosen), key=lambda pair: pair[0] != "order"):
        if point.edit is not None:
            prompt, negative = point.edit(prompt, negative)
    merged["prompt"], merged["negative_prompt"] = prompt, negative
    try:
        return new_request(**merged)
    except InvalidRequest as err:
        where = ", ".join(f"{n}={label}" for n, label in zip(AXIS_NAMES, labels) if label)
        raise SweepError(f"cell {where}: {err}") from None


def check_budget(images: int, budget: int, confirmed: bool) -> None:
    """Refuse a sweep bigger than the stated image budget unless it was confirmed."""
    if images > budget and not confirmed:
        raise SweepError(
            f"the sweep makes {images} images, over the budget of {budget}; "
            "confirm with --yes or raise --budget"
        )


def batches(cells: Sequence[Cell], max_batch: int = MAX_SWEEP_BATCH) -> list[tuple[Cell, ...]]:
    """Cells grouped into model calls: same request except the seed, seeds consecutive
    (batch image i uses seed s+i). Calls for one model come together, because the
    engine cache keeps one model loaded and alternating would reload it."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        key = json.dumps(cell.request.replace(seed=0).to_dict(), sort_keys=True)
        groups.setdefault(key, []).append(cell)
    calls: list[tuple[Cell, ...]] = []
    for group in groups.values():
        group.sort(key=lambda c: (c.request.seed, c.index))
        limit = _batch_limit(group[0].request, max_batch)
        current = [group[0]]
        for cell in group[1:]:
            previous = current[-1].request.seed
            follows = previous != -1 and cell.request.seed == previous + 1
            if follows and len(current) < limit:
                current.append(cell)
            else:
                calls.append(tuple(current))
                current = [cell]
        calls.append(tuple(current))
    first_use: dict[str, int] = {}
    for cell in cells:
        first_use.setdefault(cell.request.model, cell.index)
    return sorted(calls, key=lambda call: (first_use[call[0].request.model], call[0].index))


def _batch_limit(request: GenerationRequest, max_batch: int) -> int:
    if request.width and request.height:
        return max(1, min(max_batch, MAX_BATCH_PIXELS // (request.width * request.height)))
    return max_batch


# -- from flags and files ------------------------------------------------------------------


def definition_from(
    fields: Mapping[str, Any], axes: Mapping[str, str | None], file: Path | None = None
) -> SweepDefinition:
    """Flags over a sweep file: a setting or axis given as a flag replaces the file's."""
    base: dict[str, Any] = {}
    parsed: dict[str, Axis] = {}
    if file is not None:
        base, parsed = read_sweep_file(file)
    base.update({k: v for k, v in fields.items() if v is not None})
    for name, text in axes.items():
        if text is not None:
            parsed[name] = _axis(name, text)
    return SweepDefinition(base, parsed)


def read_sweep_file(path: Path) -> tuple[dict[str, Any], dict[str, Axis]]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise SweepError("reading sweep files needs Python 3.11 or later (tomllib)") from None
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SweepError(f"{path}: {err}") from None
    allowed = (*BASE_FIELDS, *AXIS_NAMES)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SweepError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
    axes = {name: _axis(name, data.pop(name)) for name in AXIS_NAMES if name in data}
    return data, axes


def _axis(name: str, given: Any) -> Axis:
    try:
        if isinstance(given, str):
            return Axis.parse(given)
        if isinstance(given, Mapping):
            return Axis.from_table(given)
    except AxisError as err:
        raise SweepError(f"axis {name.upper()}: {err}") from None
    raise SweepError(f"axis {name.upper()}: {given!r} is neither 'field=v1,v2' nor a table")


def _normalise(name: str, value: Any) -> Any:
    """One JSON form per value, so a sweep from a file and from flags has one key."""
    if name in FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if name == "loras":
        return [str(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _check_repeats(axes: Mapping[str, Axis]) -> None:
    """A setting varies along one axis only (`size` is width and height); so does a
    phrase order or a descriptor set. S/R axes may repeat: each searches its own text."""
    owner: dict[str, str] = {}
    for name, axis in axes.items():
        if axis.kind == "sr":
            continue
        if axis.kind == "size":
            touched = ["width", "height"]
        elif axis.set_name is not None:
            touched = [f"{axis.kind}={axis.set_name}"]
        else:
            touched = [axis.kind]
        for what in touched:
            if what in owner:
                raise SweepError(
                    f"axis {name.upper()}: {what} already varies on axis {owner[what]}"
                )
            owner[what] = name.upper()
