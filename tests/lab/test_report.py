"""Run reports on a real procedural sweep, with metrics built by hand."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.lab.measurements import GroupMetrics, MetricValue, RunMetrics
from genlab.lab.plots import series_of
from genlab.lab.records import RunStoreError
from genlab.lab.report import ReportError, numeric_axes, write_report
from genlab.lab.runner import CellDone, SweepOutcome, run_sweep
from genlab.lab.sweep import definition_from

PROMPT = 'a red circle <script>alert("hi")</script> & a "blue" square'
FIELDS = {"prompt": PROMPT, "width": 64, "height": 64, "seed": 10}
# Guidance values out of order on purpose: the plot must put them in numeric order.
AXES = {"x": "seed=1,2", "y": "guidance_scale=7.5,3,5", "z": "steps=10,20"}
DATA_URI = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def figures(page: str, kind: str) -> dict[str, bytes]:
    """id -> decoded PNG of every <figure class="kind">."""
    pattern = rf'<figure class="{kind}" id="([^"]+)"><img src="data:image/png;base64,([^"]+)"'
    return {m.group(1): base64.b64decode(m.group(2)) for m in re.finditer(pattern, page)}


def pixels(data: bytes | Path) -> np.ndarray:
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        return np.asarray(image.convert("RGB"))


def metrics_for(run_id: int) -> RunMetrics:
    guidance = [
        GroupMetrics(
            "y",
            "guidance_scale",
            i,
            label,
            4,
            {
                "adherence": MetricValue(0.5 + 0.125 * i, 4, 0.25 + 0.125 * i, 0.75),
                "fd": MetricValue(12.34 + i, 4, 11.0 + i, 14.5 + i, extractor="shapes"),
                "diversity": MetricValue(0.0625 * (i + 1), 4),
            },
        )
        for i, label in enumerate(["7.5", "3", "5"])
    ]
    steps = [
        GroupMetrics(
            "z", "steps", i, label, 6, {"fd": MetricValue(20.5 - i, 6, extractor="shapes")}
        )
        for i, label in enumerate(["10", "20"])
    ]
    overall = {"adherence": MetricValue(0.8125, 12, 0.6875, 0.9375)}
    return RunMetrics(run_id, "shapes", "procedural renders", (*guidance, *steps), overall)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepOutcome:
    out = tmp_path_factory.mktemp("report")
    return run_sweep(definition_from(FIELDS, AXES), out)


@pytest.fixture(scope="module")
def page(sweep: SweepOutcome) -> str:
    path = write_report(sweep.database, sweep.run_id, metrics=metrics_for(sweep.run_id))
    assert path == sweep.folder / "report.html"
    return path.read_text(encoding="utf-8")


def test_the_report_is_one_file_that_needs_nothing_else(sweep: SweepOutcome, page: str) -> None:
    assert sorted(p.name for p in sweep.folder.iterdir() if not p.name[0].isdigit()) == [
        "report.html",
        "sheet-z0.png",
        "sheet-z1.png",
    ]  # no temporary file left behind
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in page and "<link" not in page and "@import" not in page


def test_every_contact_sheet_is_embedded_pixel_for_pixel(sweep: SweepOutcome, page: str) -> None:
    sheets = figures(page, "sheet")
    assert list(sheets) == ["sheet-0", "sheet-1"]
    for embedded, path in zip(sheets.values(), sweep.sheets):
        assert np.array_equal(pixels(embedded), pixels(path))
    assert "sheet-z1.png — steps: 20" in page


def test_one_plot_per_metric_and_axis(page: str) -> None:
    plots = figures(page, "plot")
    expected = ["plot-y-adherence", "plot-y-diversity", "plot-y-fd", "plot-z-fd"]
    assert list(plots) == expected
    for png in plots.values():
        height, width, _ = pixels(png).shape
        assert width >= 400 and height >= 250
    assert "FD[shapes] against guidance_scale (Y axis); n = 4 at every point; error bars" in page
    assert "FD[shapes] against steps (Z axis); n = 6 at every point</figcaption>" in page


def test_user_strings_are_escaped(page: str) -> None:
    escaped = "a red circle &lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; &amp; a "
    assert f'<p class="prompt">{escaped}&quot;blue&quot; square</p>' in page
    assert PROMPT not in page


def test_the_table_holds_every_number(page: str) -> None:
    table = page[page.index('<table class="numbers">') :]
    assert table.count("<tr>") == 1 + 3 * 3 + 2 + 1  # header, guidance × 3 metrics, steps, all
    for text in ("12.34", "[11, 14.5]", "13.34", "0.1875", "20.5", "19.5", "0.8125"):
        assert f'<td class="num">{text}</td>' in table
    assert "[0.6875, 0.9375]" in table


def test_the_definition_is_in_the_header(page: str) -> None:
    head = page[: page.index('<section id="sheets">')]
    for text in (
        "guidance_scale=7.5,3,5  —  7.5, 3, 5",
        "seed=1,2  —  1, 2",
        "<th>model</th><td>procedural</td>",
        "<th>cells</th><td>12 of 12 done</td>",
        "genlab 0.1.0",
        "12 cells, ",
    ):
        assert text in head


def test_numeric_axes_are_plotted_in_value_order_and_others_as_categories(
    sweep: SweepOutcome,
) -> None:
    from genlab.lab.records import open_store

    with open_store(sweep.database) as store:
        definition = store.get_run(sweep.run_id).definition
    numeric = numeric_axes(definition)
    assert numeric == {"y": [7.5, 3.0, 5.0], "z": [10.0, 20.0]}  # seeds are names, not numbers
    guidance = series_of(metrics_for(sweep.run_id), numeric)[0]
    assert (guidance.metric, guidance.numeric) == ("adherence", True)
    assert guidance.positions == (3.0, 5.0, 7.5)
    assert guidance.labels == ("3", "5", "7.5")
    assert [v.value for v in guidance.values] == [0.625, 0.75, 0.5]
    seeds = RunMetrics(
        1, "shapes", None, (GroupMetrics("x", "seed", 1, "2", 1, {"a": guidance.values[0]}),), {}
    )
    (series,) = series_of(seeds, numeric)
    assert (series.numeric, series.positions, series.labels) == (False, (0.0,), ("2",))


def test_without_metrics_the_report_says_how_to_measure(
    sweep: SweepOutcome, tmp_path: Path
) -> None:
    path = write_report(sweep.database, sweep.run_id, tmp_path)
    assert path == tmp_path / "report-0001.html"
    page = path.read_text(encoding="utf-8")
    assert "genlab eval --run 1" in page and 'class="plot"' not in page
    assert len(figures(page, "sheet")) == 2


def test_metrics_of_another_run_and_unknown_runs_are_refused(sweep: SweepOutcome, tmp_path):
    with pytest.raises(ReportError, match="of run 7, not run 1"):
        write_report(sweep.database, sweep.run_id, tmp_path, metrics=metrics_for(7))
    with pytest.raises(RunStoreError, match="no run 5 in "):
        write_report(sweep.database, 5, tmp_path)
    with pytest.raises(RunStoreError, match="no runs recorded"):
        write_report(tmp_path / "nothing.sqlite", 1, tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_stopped_run_reports_the_sheets_it_lacks(tmp_path: Path) -> None:
    def stop(done: CellDone) -> None:
        if done.done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(definition_from(FIELDS, {"x": "seed=1-4"}), tmp_path, on_cell=stop)
    page = write_report(tmp_path / "genlab-runs.sqlite", 1).read_text(encoding="utf-8")
    assert "sheet.png (all cells) is not there: the run is stopped" in page
    assert "<th>cells</th><td>3 of 4 done</td>" in page
    assert "stopped (KeyboardInterrupt" in page


def test_a_stored_measurement_is_used_when_none_is_given(tmp_path: Path) -> None:
    pytest.importorskip("genlab.lab.measure")  # run measurements: `genlab eval --run`
    from genlab.lab.records import open_store

    outcome = run_sweep(definition_from(FIELDS, AXES), tmp_path)
    with open_store(outcome.database) as store:
        store.save_run_metrics(outcome.run_id, "shapes", metrics_for(outcome.run_id).to_dict())
    page = write_report(outcome.database, outcome.run_id).read_text(encoding="utf-8")
    assert list(figures(page, "plot")) == [
        "plot-y-adherence",
        "plot-y-diversity",
        "plot-y-fd",
        "plot-z-fd",
    ]
    with pytest.raises(RunStoreError, match="not been measured with 'clip'; measured with: shapes"):
        write_report(outcome.database, outcome.run_id, extractor="clip")
