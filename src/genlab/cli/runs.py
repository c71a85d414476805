"""`genlab runs …` — the sweep runs recorded in an output folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from genlab.cli.errors import fail, user_errors
from genlab.cli.terminal import shown

if TYPE_CHECKING:
    from genlab.services.sweeps import RunStore, RunSummary, TimingSummary

app = typer.Typer(help="Sweep runs: list, show and compare them.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="The sweeps' output folder.")]
DbOpt = Annotated[Path | None, typer.Option(help="Run database (default OUT/genlab-runs.sqlite).")]
RunArg = Annotated[str, typer.Argument(help="A run id, or 'last'.")]


@app.command("list")
@user_errors
def list_runs(out: OutOpt = Path("outputs"), db: DbOpt = None) -> None:
    """One line per run: id, status, cells done, start time, prompt and axes."""
    with open_run_store(out, db) as store:
        runs = store.list_runs()
    if not runs:
        console.print("no runs yet")
    for run in runs:
        done = f"{run.cells_done}/{run.cell_count}"
        _say(f"{run.id:>4}  {run.status:<8}  {done:>9}  {run.started_at}  {_headline(run)}")


@app.command("show")
@user_errors
def show(run: RunArg, out: OutOpt = Path("outputs"), db: DbOpt = None) -> None:
    """A run's settings, axes, every cell and a timing summary."""
    from genlab.services.sweeps import timing_summary

    with open_run_store(out, db) as store:
        summary = find_run(store, run)
        cells = store.cells(summary.id)
    _say(f"run {summary.id}  {summary.status}  {summary.cells_done}/{summary.cell_count} cells")
    _say(f"started {summary.started_at}, finished {summary.finished_at or '-'}, {summary.version}")
    if summary.error:
        _say(f"stopped by {summary.error}")
    _say(f"folder: {summary.folder}")
    for name, value in _settings(summary).items():
        _say(f"{name}: {value}")
    for cell in cells:
        where = ", ".join(f"{n}={v}" for n, v in zip("xyz", cell.labels) if v)
        seconds = cell.timings.get("generate_s", 0.0)
        seed = cell.request.get("seed")
        _say(f"{cell.index:>5}  {where}  seed={seed}  {seconds:.3f}s  {cell.image_path}")
    _say(_timing_line(timing_summary(cells)))


@app.command("compare")
@user_errors
def compare(a: RunArg, b: RunArg, out: OutOpt = Path("outputs"), db: DbOpt = None) -> None:
    """Which settings differ between two runs, and their per-cell timings."""
    with open_run_store(out, db) as store:
        result = store.compare(find_run(store, a).id, find_run(store, b).id)
    _say(f"run {result.a.id} vs run {result.b.id}")
    if not result.differences:
        _say("same settings and axes")
    for name, in_a, in_b in result.differences:
        _say(f"{name}: {_shown(in_a)} | {_shown(in_b)}")
    for run, timing in zip((result.a, result.b), result.timings):
        _say(f"run {run.id}: {_timing_line(timing)}")


def open_run_store(out: Path, db: Path | None) -> RunStore:
    from genlab.services.sweeps import DB_NAME, open_store

    return open_store(db or out / DB_NAME, create=False)


def find_run(store: RunStore, run: str) -> RunSummary:
    if run == "last":
        return store.latest_run()
    if not run.isdigit():
        raise fail(f"RUN={run!r} is invalid: a run id (see `genlab runs list`) or 'last'")
    return store.get_run(int(run))


def _settings(run: RunSummary) -> dict[str, Any]:
    from genlab.services.sweeps import settings_of

    return settings_of(run.definition)


def _headline(run: RunSummary) -> str:
    settings = _settings(run)
    axes = "  ".join(f"{k[-1]}: {v}" for k, v in settings.items() if k.startswith("axis "))
    return f"{settings.get('prompt', '')!r}  {axes}".rstrip()


def _timing_line(timing: TimingSummary | None) -> str:
    if timing is None:
        return "no cells finished"
    return (
        f"{timing.cells} cells, {timing.total_s:.2f}s in all; generate per image: "
        f"mean {timing.mean_s:.3f}s, median {timing.median_s:.3f}s, "
        f"min {timing.min_s:.3f}s, max {timing.max_s:.3f}s"
    )


def _shown(value: object) -> str:
    return "(not set)" if value is None else repr(value)


def _say(text: str) -> None:
    console.print(shown(text))
