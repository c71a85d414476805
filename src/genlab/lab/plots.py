"""Metric plots for run reports: one PNG per (metric, axis), drawn off-screen.

A `Series` is one metric along one swept axis, its points in the axis's order. A
numeric axis (guidance_scale, steps, …) is plotted at its values, so uneven spacing
shows; any other axis (seeds, prompt variants, sizes) is categorical, one tick per
value. Error bars are the 95% intervals where the metric has them.

matplotlib is imported only when a plot is drawn, and through the Agg canvas directly
rather than pyplot, so no global figure state or GUI backend is involved.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from genlab.lab.measurements import MetricValue, RunMetrics

# How metric keys read in titles; a feature metric also names its extractor: FD[shapes].
METRIC_NAMES = {
    "fd": "FD",
    "fid": "FID",
    "kid": "KID",
    "clip_score": "CLIPScore",
    "is": "IS",
    "precision": "precision",
    "recall": "recall",
}
# Reports list metrics in this order, whatever order a measurement stored them in;
# others follow as they come.
METRIC_ORDER = ("adherence", "clip_score", "diversity", "fd", "fid", "kid", "precision", "recall")
# Category labels longer than this are cut (phrase-order axes label whole prompts).
MAX_TICK_LABEL = 18
# A numeric axis with up to this many values gets a tick at each; more would crowd.
MAX_NUMERIC_TICKS = 10


@dataclass(frozen=True)
class Series:
    metric: str  # key in GroupMetrics.metrics, e.g. "fd"
    title: str  # as shown, e.g. "FD[shapes]"
    axis: str  # "x", "y" or "z"
    axis_name: str  # e.g. "guidance_scale"
    numeric: bool
    positions: tuple[float, ...]  # x coordinates, in plotting order
    labels: tuple[str, ...]  # the axis values' labels, same order
    values: tuple[MetricValue, ...]

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(v.n for v in self.values)

    @property
    def has_intervals(self) -> bool:
        return any(v.low is not None and v.high is not None for v in self.values)


def metric_title(name: str, value: MetricValue) -> str:
    shown = METRIC_NAMES.get(name, name)
    return f"{shown}[{value.extractor}]" if value.extractor else shown


def ordered(names: Iterable[str]) -> list[str]:
    """Metric names once each, known ones in METRIC_ORDER, the rest after as they came."""
    unique = list(dict.fromkeys(names))
    rank = {name: i for i, name in enumerate(METRIC_ORDER)}
    return sorted(unique, key=lambda name: rank.get(name, len(rank)))  # stable: rest as came


def series_of(metrics: RunMetrics, numeric_values: Mapping[str, Sequence[float]]) -> list[Series]:
    """Every (axis, metric) pair of `metrics`: axes in x, y, z order, metrics `ordered`.
    `numeric_values[axis]` holds the values of a numeric axis, by position; axes missing
    from it are categorical."""
    found: list[Series] = []
    for axis, axis_name in metrics.axes():
        groups = sorted((g for g in metrics.groups if g.axis == axis), key=lambda g: g.index)
        names = ordered(name for g in groups for name in g.metrics)
        numbers = numeric_values.get(axis)
        for name in names:
            points = [g for g in groups if name in g.metrics]
            if numbers is not None:
                points.sort(key=lambda g: numbers[g.index])
                positions = tuple(float(numbers[g.index]) for g in points)
            else:
                positions = tuple(float(i) for i in range(len(points)))
            values = tuple(g.metrics[name] for g in points)
            found.append(
                Series(
                    metric=name,
                    title=metric_title(name, values[0]),
                    axis=axis,
                    axis_name=axis_name,
                    numeric=numbers is not None,
                    positions=positions,
                    labels=tuple(g.label for g in points),
                    values=values,
                )
            )
    return found


def plot_png(series: Series, *, dpi: int = 100) -> bytes:
    """The series as a PNG: points (joined by a line on a numeric axis), 95% error bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.6, 3.4), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ys = [v.value for v in series.values]
    ax.errorbar(
        series.positions,
        ys,
        yerr=_error_bars(series.values) if series.has_intervals else None,
        fmt="o-" if series.numeric else "o",
        capsize=4,
        color="#2a6fb0",
        ecolor="#7aa6d1",
    )
    if series.numeric and len(series.positions) <= MAX_NUMERIC_TICKS:
        ax.set_xticks(series.positions, series.labels)  # exactly the values swept
    elif not series.numeric:
        ax.set_xticks(series.positions, [_short(label) for label in series.labels])
        if len(series.labels) > 4:
            ax.tick_params(axis="x", labelrotation=30)
        ax.set_xlim(-0.5, len(series.positions) - 0.5)
    ax.set_xlabel(series.axis_name)
    ax.set_ylabel(series.title)
    ax.set_title(f"{series.title} vs {series.axis_name}", fontsize=11)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    # No "Software" chunk: it would carry a web address into a report meant to stand alone.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _error_bars(values: Sequence[MetricValue]) -> list[list[float]]:
    """(2, N) distances below and above each value; NaN (no bar) where there is none.
    Clamped at 0: a percentile bootstrap interval can miss a biased point estimate
    (FD at small n), and matplotlib refuses negative lengths."""
    below = [max(0.0, v.value - v.low) if v.low is not None else math.nan for v in values]
    above = [max(0.0, v.high - v.value) if v.high is not None else math.nan for v in values]
    return [below, above]


def _short(label: str) -> str:
    return label if len(label) <= MAX_TICK_LABEL else label[: MAX_TICK_LABEL - 1] + "…"
