"""Sweep axes: what varies along X, Y or Z, written as A1111 users write it.

An axis is a request field with values (`seed=1-4`, `guidance_scale=3,7.5`,
`size=64x64,128x96`) or a prompt variant (`sr=red,blue`, `descriptors=lighting`,
`order`, `density=colour`; see genlab.lab.variants). Values are split like a CSV
line, so `sr="red, shiny",blue` keeps its comma. Integer fields also take ranges:
`1-4` and `1-9 (+2)`; number fields take `1-3 (+0.5)`.

A value that cannot be converted is kept as typed, so the request's own validation
reports it with the same message `genlab generate` gives.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genlab.core.text import brief
from genlab.lab.variants import VARIANT_KINDS, Edit, variants

FIELD_AXES = (
    "seed",
    "guidance_scale",
    "steps",
    "sampler",
    "schedule",
    "width",
    "height",
    "size",
    "model",
    "negative_prompt",
    "strength",
)
INT_FIELDS = frozenset({"seed", "steps", "width", "height"})
FLOAT_FIELDS = frozenset({"guidance_scale", "strength"})
_RANGE = re.compile(r"^\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*(?:\(\s*\+\s*([\d.]+)\s*\))?\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
# A range longer than this is a typo (1-10000), not a sweep; the budget check would
# refuse it anyway, but only after building every value.
MAX_RANGE = 4096
# Values on one axis, ranges counted by their length: an axis longer than the largest
# plan (sweep.MAX_CELLS) can never run. Callers with a smaller budget (the studio) pass
# their own `max_values`; either way values are counted before any is built, so text
# such as "seed=0-4095,0-4095,…" is refused at once.
MAX_AXIS_VALUES = 100_000


class AxisError(ValueError):
    """An axis that cannot be read; the message reads well after "axis X: "."""


class TooManyValues(AxisError):
    """An axis with more values than allowed, found by counting (nothing was built)."""

    def __init__(self, count: int, limit: int):
        self.count = count
        self.limit = limit
        super().__init__(f"{count} values; a sweep makes at most {limit} images")


@dataclass(frozen=True)
class Point:
    """One position along an axis: a label, the request fields it sets, a prompt edit."""

    label: str
    fields: Mapping[str, Any]
    edit: Edit | None = None


@dataclass(frozen=True)
class Axis:
    kind: str  # a field of FIELD_AXES or a variant kind of VARIANT_KINDS
    values: tuple[Any, ...] = ()
    set_name: str | None = None  # descriptor set, for descriptors and density

    def __post_init__(self) -> None:
        if self.kind not in FIELD_AXES and self.kind not in VARIANT_KINDS:
            raise AxisError(
                f"unknown field {self.kind!r}; allowed: {', '.join(FIELD_AXES)}; "
                f"prompt variants: {', '.join(VARIANT_KINDS)}"
            )
        if self.kind in FIELD_AXES:
            if not self.values:
                raise AxisError(f"{self.kind} needs at least one value: {self.kind}=v1,v2")
            check_count(self.kind, self.values, MAX_AXIS_VALUES)
            object.__setattr__(self, "values", tuple(_values(self.kind, self.values)))

    @classmethod
    def parse(cls, text: str, *, max_values: int = MAX_AXIS_VALUES) -> Axis:
        """`field=v1,v2,…`, `sr=a,b`, `descriptors=SET`, `order[=a,b]`, `density=SET`;
        TooManyValues when the values (ranges by their length) exceed `max_values`."""
        name, _, rest = text.partition("=")
        kind = name.strip()
        if kind in ("descriptors", "density"):
            return cls(kind, set_name=rest.strip() or None)
        values = tuple(_split(rest)) if rest.strip() else ()
        check_count(kind, values, max_values)
        return cls(kind, values)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, max_values: int = MAX_AXIS_VALUES) -> Axis:
        """A TOML axis table: `{axis = "seed", values = [1, 2]}`, `{axis = "density",
        set = "colour"}`; values are counted against `max_values` as in `parse`."""
        unknown = sorted(set(table) - {"axis", "values", "set"})
        if unknown or not isinstance(table.get("axis"), str):
            raise AxisError(
                "an axis table needs 'axis' (a field or prompt variant) and may have "
                f"'values' or 'set'{'; unknown: ' + ', '.join(unknown) if unknown else ''}"
            )
        values = table.get("values", ())
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise AxisError(f"values={brief(values)} must be a list")
        check_count(table["axis"], values, max_values)
        return cls(table["axis"], tuple(values), table.get("set"))

    # -- text and JSON ------------------------------------------------------------------

    def spec(self) -> str:
        """The flag text that gives this axis back."""
        if self.set_name is not None:
            return f"{self.kind}={self.set_name}"
        if not self.values:
            return self.kind
        if self.kind in INT_FIELDS:
            return f"{self.kind}={','.join(_ranges(self.values))}"
        texts = [_value_text(v) for v in self.values]
        return f"{self.kind}={','.join(_quote(t) for t in texts)}"

    @property
    def title(self) -> str:
        """The axis name shown in contact-sheet headers."""
        titles = {
            "sr": "Prompt S/R",
            "order": "phrase order",
            "descriptors": f"{self.set_name} descriptors",
            "density": f"{self.set_name} density",
        }
        return titles.get(self.kind, self.kind)

    def to_dict(self) -> dict[str, Any]:
        values = [list(v) if isinstance(v, tuple) else v for v in self.values]
        return {"axis": self.kind, "values": values, "set": self.set_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Axis:
        return cls(data["axis"], tuple(data.get("values") or ()), data.get("set"))

    # -- points ---------------------------------------------------------------------

    def points(self, prompt: str, negative: str) -> list[Point]:
        if self.kind in VARIANT_KINDS:
            strings = [str(v) for v in self.values]
            found = variants(self.kind, strings, self.set_name, prompt, negative)
            return [Point(v.label, {}, v.edit) for v in found]
        if self.kind == "size":
            return [Point(f"{w}x{h}", {"width": w, "height": h}) for w, h in self.values]
        return [Point(_value_text(v) or "(empty)", {self.kind: v}) for v in self.values]


def _split(text: str) -> list[str]:
    """A CSV line, as A1111 reads X/Y/Z values: quotes keep commas inside a value."""
    return [value.strip() for value in next(csv.reader([text], skipinitialspace=True))]


def count_values(kind: str, values: Sequence[Any]) -> int:
    """How many values `values` stand for on a `kind` axis (a range by its length),
    worked out from the text alone: nothing is built."""
    if kind not in INT_FIELDS | FLOAT_FIELDS:
        return len(values)
    number = int if kind in INT_FIELDS else float
    total = 0
    for value in values:
        found = _range(value, number) if isinstance(value, str) else None
        total += 1 if found is None else found[2]
    return total


def check_count(kind: str, values: Sequence[Any], limit: int) -> None:
    # A list longer than the limit is refused before its items are even looked at.
    if len(values) > limit:
        raise TooManyValues(len(values), limit)
    count = count_values(kind, values)
    if count > limit:
        raise TooManyValues(count, limit)


def _values(kind: str, values: Sequence[Any]) -> list[Any]:
    converted: list[Any] = []
    for value in values:
        if kind == "size":
            converted.append(_size(value))
        elif isinstance(value, str) and kind in INT_FIELDS | FLOAT_FIELDS:
            converted.extend(_numbers(value, int if kind in INT_FIELDS else float))
        elif kind in FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            converted.append(float(value))  # TOML `7` and flag `7` mean the same 7.0
        else:
            converted.append(value)
    return converted


def _numbers(text: str, kind: Callable[[str], Any]) -> list[Any]:
    found = _range(text, kind)
    if found is None:
        try:
            return [kind(text)]
        except ValueError:
            return [text]  # left for the request's validation to name
    start, step, count = found
    # Multiply rather than accumulate, and round, so 0.1 steps give 0.3, not 0.30000000004.
    return [kind(round(start + i * step, 10)) for i in range(count)]


def _range(text: str, kind: Callable[[str], Any]) -> tuple[Any, Any, int] | None:
    """(start, step, count) of a range `low-high` or `low-high (+step)`; None for a
    single value or text that is no range. Counting builds nothing."""
    try:
        kind(text)
        return None
    except ValueError:
        pass
    match = _RANGE.match(text)
    if match is None:
        return None
    try:
        start, stop = kind(match.group(1)), kind(match.group(2))
        step = kind(match.group(3)) if match.group(3) else kind("1")
    except ValueError:
        return None
    shown = brief(text)
    if not step > 0 or not stop >= start:
        raise AxisError(f"range {shown} must rise by a positive step: low-high (+step)")
    if kind is int:
        count = (stop - start) // step + 1  # exact, whatever the size of the numbers
    else:
        span = (stop - start) / step
        if not math.isfinite(span) or span >= MAX_RANGE:
            raise AxisError(f"range {shown} has over {MAX_RANGE} values")
        count = round(span) + 1
    if count > MAX_RANGE:
        raise AxisError(f"range {shown} has {count} values; at most {MAX_RANGE}")
    return start, step, count


def _size(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise AxisError(f"size value {value!r} is not WIDTHxHEIGHT, e.g. 64x64")
    return int(match.group(1)), int(match.group(2))


def _ranges(values: Sequence[Any]) -> list[str]:
    """Integers as a user would type them: runs of three or more as `low-high`."""
    texts: list[str] = []
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and _follows(values[end], values[end + 1]):
            end += 1
        if end - start >= 2:
            texts.append(f"{values[start]}-{values[end]}")
        else:
            texts.extend(_quote(_value_text(v)) for v in values[start : end + 1])
        start = end + 1
    return texts


def _follows(a: Any, b: Any) -> bool:
    # Negative numbers stay apart: "-1-1" would read badly (and -1 means random).
    plain = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (a, b))
    return plain and b == a + 1


def _value_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 7.0 -> "7", as A1111 labels CFG scale
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return str(value)


def _quote(text: str) -> str:
    if any(ch in text for ch in ',"') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text
