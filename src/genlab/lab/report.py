"""A run report: one HTML file that stands alone — no requests, no scripts.

It holds what a reader needs to judge a sweep without genlab at hand: the prompt and
the definition (axes, model, settings, version, dates, timings), every contact sheet
of the run, and, once the run is measured (`genlab eval --run ID`), one plot per
(metric, axis) with 95% error bars and a table of every number. Images travel as
base64 data URIs and the style sheet is inline, so the file can be mailed or attached
to an issue as is. Every string a user typed is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.files import atomic_file
from genlab.core.request import DEFAULT_MODEL
from genlab.lab.axes import FLOAT_FIELDS, INT_FIELDS, Axis
from genlab.lab.measurements import MetricValue, RunMetrics
from genlab.lab.records import CellRecord, RunSummary, TimingSummary, open_store, timing_summary
from genlab.lab.sweep import Plan, SweepDefinition, plan

if TYPE_CHECKING:
    from genlab.lab.plots import Series

REPORT_NAME = "report.html"
# Axes whose values are plotted as numbers; a seed is a name for a noise, not a quantity.
NUMERIC_AXES = (INT_FIELDS | FLOAT_FIELDS) - {"seed"}
# Request fields the header already shows, or that say nothing when unset.
_SHOWN_ELSEWHERE = ("prompt", "negative_prompt", "model")

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #1d1d1f; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.prompt { font-size: 1.25em; white-space: pre-wrap; }
.negative { color: #666; white-space: pre-wrap; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f5f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; height: auto;
         image-rendering: pixelated; border: 1px solid #ddd; }
figure.plot { display: inline-block; vertical-align: top; margin-right: 1em; }
figure.plot img { image-rendering: auto; }
figcaption { color: #555; font-size: 0.9em; max-width: 40em; }
.missing { color: #a33; }
"""


class ReportError(GenlabError):
    """A report asked for with metrics that belong to another run."""


def write_report(
    database: Path,
    run_id: int,
    out: Path | None = None,
    *,
    metrics: RunMetrics | None = None,
    extractor: str | None = None,
) -> Path:
    """Write run `run_id`'s report and return its path: `out`, `out/report-<id>.html`
    when `out` is a folder, or `report.html` in the run's folder. Without `metrics`, the
    ones stored for the run (with `extractor`, default the standard one) are used if any."""
    with open_store(database, create=False) as store:
        run = store.get_run(run_id)
        cells = store.cells(run_id)
        store_path = store.path
    if metrics is None:
        metrics = stored_metrics(store_path, run_id, extractor)
    elif metrics.run_id != run_id:
        raise ReportError(f"the metrics given are of run {metrics.run_id}, not run {run_id}")
    page = render_report(run, cells, metrics)
    if out is None:
        target = run.folder / REPORT_NAME
    elif Path(out).is_dir():
        target = Path(out) / f"report-{run_id:04d}.html"
    else:
        target = Path(out)
    _write_atomically(target, page)
    return target


def stored_metrics(database: Path, run_id: int, extractor: str | None) -> RunMetrics | None:
    """The run's stored measurement with `extractor`; with no extractor named, the
    default one's, else the first measured, else None (the run was never measured).
    Naming an extractor the run was not measured with is an error, as is an unknown one."""
    from genlab.metrics.features import DEFAULT_EXTRACTOR, EXTRACTORS

    if extractor is not None and extractor not in EXTRACTORS:
        raise InvalidRequest("extractor", extractor, f"must be one of {', '.join(EXTRACTORS)}")
    try:
        from genlab.lab.measure import load_run_metrics
    except ModuleNotFoundError as err:  # a genlab without run measurements
        if err.name != "genlab.lab.measure":
            raise
        return None
    if extractor is None:
        with open_store(database, create=False) as store:
            measured = store.measured_extractors(run_id)
        if not measured:
            return None
        extractor = DEFAULT_EXTRACTOR if DEFAULT_EXTRACTOR in measured else measured[0]
    return load_run_metrics(database, run_id, extractor)


def render_report(run: RunSummary, cells: list[CellRecord], metrics: RunMetrics | None) -> str:
    """The whole page as text."""
    from genlab.core.metadata import version_string

    definition = SweepDefinition.from_dict(run.definition)
    planned = plan(definition)
    fields = definition.fields
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>genlab run {run.id}: {_esc(fields['prompt'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<header><h1>Sweep run {run.id}</h1>",
        f'<p class="prompt">{_esc(fields["prompt"])}</p>',
    ]
    if fields.get("negative_prompt"):
        parts.append(f'<p class="negative">Negative prompt: {_esc(fields["negative_prompt"])}</p>')
    parts.append("</header>")
    parts += _definition_section(run, cells, planned)
    parts += _sheets_section(run, planned)
    parts.append('<section id="metrics"><h2>Metrics</h2>')
    if metrics is None:
        parts.append(
            f"<p>This run has not been measured yet: <code>genlab eval --run {run.id}</code> "
            "measures it, and the next report shows the plots.</p>"
        )
    else:
        parts += _metrics_intro(metrics)
        parts += _plots(metrics, numeric_axes(run.definition))
        parts += _numbers_table(metrics)
    parts.append("</section>")
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts.append(f"<footer><p>Written by {_esc(version_string())} on {made}.</p></footer>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def numeric_axes(definition: Mapping[str, Any]) -> dict[str, list[float]]:
    """Axis name -> its values, for axes that vary a number (plotted at their values)."""
    found: dict[str, list[float]] = {}
    for name, data in definition.get("axes", {}).items():
        axis = Axis.from_dict(data)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in axis.values)
        if axis.kind in NUMERIC_AXES and numbers:
            found[name] = [float(v) for v in axis.values]
    return found


# -- sections ------------------------------------------------------------------------------


def _definition_section(run: RunSummary, cells: list[CellRecord], planned: Plan) -> list[str]:
    fields = planned.definition.fields
    rows: list[tuple[str, str]] = []
    model_axis = [a for a in planned.axes if a.title == "model"]
    model = f"varies along {model_axis[0].name.upper()}" if model_axis else None
    rows.append(("model", model or str(fields.get("model") or DEFAULT_MODEL)))
    sides = {"x": "columns", "y": "rows", "z": "one contact sheet each"}
    for name, axis in zip("xyz", planned.axes):
        if axis.title:
            spec = planned.definition.axes[name].spec()
            values = ", ".join(axis.labels)
            rows.append((f"{name.upper()} axis ({sides[name]})", f"{spec}  —  {values}"))
    for key, value in _constant_settings(cells, fields).items():
        rows.append((key, _setting_text(value)))
    status = run.status + (f" ({run.error})" if run.error else "")
    rows += [
        ("status", status),
        ("cells", f"{run.cells_done} of {run.cell_count} done"),
        ("made with", run.version),
        ("started", run.started_at),
        ("finished", run.finished_at or "-"),
        ("timings", _timing_text(timing_summary(cells))),
        ("folder", str(run.folder)),
    ]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return ['<section id="definition"><h2>Definition</h2>', f"<table>{body}</table></section>"]


def _sheets_section(run: RunSummary, planned: Plan) -> list[str]:
    parts = ['<section id="sheets"><h2>Contact sheets</h2>']
    z_axis = planned.axes[2]
    for z, label in enumerate(z_axis.labels):
        # Named as genlab.lab.runner.write_contact_sheets names them.
        name = f"sheet-z{z}.png" if z_axis.title else "sheet.png"
        path = run.folder / name
        caption = f"{z_axis.title}: {label}" if z_axis.title else "all cells"
        if not path.is_file():
            parts.append(
                f'<p class="missing">{_esc(name)} ({_esc(caption)}) is not there: the run is '
                f"{_esc(run.status)}; re-running the sweep finishes it.</p>"
            )
            continue
        uri = _data_uri(path.read_bytes())
        parts.append(
            f'<figure class="sheet" id="sheet-{z}"><img src="{uri}" alt="{_esc(caption)}">'
            f"<figcaption>{_esc(name)} — {_esc(caption)}</figcaption></figure>"
        )
    parts.append("</section>")
    return parts


def _metrics_intro(metrics: RunMetrics) -> list[str]:
    text = f"Feature metrics use the {_esc(metrics.extractor)} extractor"
    if metrics.reference:
        text += f"; distances (FD, KID) are to {_esc(metrics.reference)}"
    return [f"<p>{text}.</p>"]


def _plots(metrics: RunMetrics, numeric: Mapping[str, Sequence[float]]) -> list[str]:
    from genlab.lab.plots import plot_png, series_of

    parts = []
    for series in series_of(metrics, numeric):
        image = _data_uri(plot_png(series))
        counts = sorted(set(series.counts))
        n = f"n = {counts[0]} at every point" if len(counts) == 1 else _counts(series)
        bars = "; error bars: 95% interval" if series.has_intervals else ""
        parts.append(
            f'<figure class="plot" id="plot-{series.axis}-{_esc(series.metric)}">'
            f'<img src="{image}" alt="{_esc(series.title)} vs {_esc(series.axis_name)}">'
            f"<figcaption>{_esc(series.title)} against {_esc(series.axis_name)} "
            f"({series.axis.upper()} axis); {_esc(n)}{bars}</figcaption></figure>"
        )
    return parts


def _numbers_table(metrics: RunMetrics) -> list[str]:
    head = (
        "<tr><th>axis</th><th>value</th><th>images</th><th>metric</th><th>value</th>"
        "<th>95% interval</th><th>n</th></tr>"
    )
    rows = []
    for group in sorted(metrics.groups, key=lambda g: (g.axis, g.index)):
        where = f"{group.axis.upper()}: {group.axis_name}"
        rows += _metric_rows(where, group.label, str(group.images), group.metrics)
    rows += _metric_rows("all cells", "", "", metrics.overall)
    return [
        '<h3>All numbers</h3><table class="numbers">',
        head,
        *rows,
        "</table>",
    ]


def _metric_rows(
    where: str, label: str, images: str, values: Mapping[str, MetricValue]
) -> list[str]:
    from genlab.lab.plots import metric_title, ordered

    rows = []
    for name in ordered(values):
        value = values[name]
        interval = (
            f"[{_number(value.low)}, {_number(value.high)}]"
            if value.low is not None and value.high is not None
            else "-"
        )
        cells = [where, label, images, metric_title(name, value)]
        numbers = [_number(value.value), interval, str(value.n)]
        rows.append(
            "<tr>"
            + "".join(f"<td>{_esc(c)}</td>" for c in cells)
            + "".join(f'<td class="num">{_esc(c)}</td>' for c in numbers)
            + "</tr>"
        )
    return rows


# -- small helpers -------------------------------------------------------------------------


def _constant_settings(cells: Sequence[CellRecord], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The settings every recorded cell shares (defaults included, as they ran), or the
    definition's own when no cell is recorded yet."""
    if not cells:
        return {k: v for k, v in fields.items() if k not in _SHOWN_ELSEWHERE}
    first = cells[0].request
    shared = {
        key: value
        for key, value in first.items()
        if key not in _SHOWN_ELSEWHERE
        and value not in (None, "", [], {})
        and all(c.request.get(key) == value for c in cells)
    }
    shared.pop("batch_size", None)  # the sweep batches cells itself; each cell is one image
    if not first.get("init_image"):
        shared.pop("strength", None)  # only img2img reads it
    return shared


def _setting_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _timing_text(timing: TimingSummary | None) -> str:
    if timing is None:
        return "no cells finished"
    return (
        f"{timing.cells} cells, {timing.total_s:.2f} s in all (loading, generating, saving); "
        f"generation per image: mean {timing.mean_s:.3f} s, median {timing.median_s:.3f} s, "
        f"min {timing.min_s:.3f} s, max {timing.max_s:.3f} s"
    )


def _counts(series: Series) -> str:
    return "n = " + ", ".join(f"{label}: {n}" for label, n in zip(series.labels, series.counts))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _write_atomically(path: Path, text: str) -> None:
    """A hidden sibling renamed over the target: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", encoding="utf-8") as handle:
        handle.write(text)
