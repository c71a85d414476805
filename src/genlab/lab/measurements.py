"""What measuring a sweep run produces: metrics per value of each swept axis.

`genlab eval --run ID` computes a `RunMetrics` (lab/measure.py) and stores it next to
the run; `genlab report RUN` plots each metric against each axis from it. A metric of a
group (all cells sharing one value of one axis) carries its sample count and, where it
has one, a 95% interval and the feature extractor it was computed with: an FD is only
ever shown with its extractor's name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class MetricValue:
    value: float
    n: int  # images (or image pairs) it was computed from
    low: float | None = None  # 95% interval, when the metric has one
    high: float | None = None
    extractor: str | None = None  # "shapes", "inception", "clip" for feature metrics


@dataclass(frozen=True)
class GroupMetrics:
    axis: str  # "x", "y" or "z"
    axis_name: str  # what the axis varies, as the sweep names it, e.g. "guidance_scale"
    index: int  # position of the value along the axis
    label: str  # the value's label, as on the contact sheet
    images: int
    metrics: dict[str, MetricValue]  # e.g. "adherence", "diversity", "fd", "clip_score"


@dataclass(frozen=True)
class RunMetrics:
    run_id: int
    extractor: str
    reference: str | None  # what FD compares against, e.g. "procedural renders of the prompts"
    groups: tuple[GroupMetrics, ...]
    overall: dict[str, MetricValue]  # every cell of the run together

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMetrics:
        def values(raw: dict[str, Any]) -> dict[str, MetricValue]:
            return {k: MetricValue(**v) for k, v in raw.items()}

        groups = tuple(
            GroupMetrics(**{**g, "metrics": values(g["metrics"])}) for g in data["groups"]
        )
        return cls(
            run_id=data["run_id"],
            extractor=data["extractor"],
            reference=data.get("reference"),
            groups=groups,
            overall=values(data.get("overall", {})),
        )

    def axes(self) -> list[tuple[str, str]]:
        """(axis, axis_name) pairs in x, y, z order, each once."""
        seen: dict[str, str] = {}
        for g in self.groups:
            seen.setdefault(g.axis, g.axis_name)
        return sorted(seen.items())
