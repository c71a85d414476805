"""`genlab report RUN` — a sweep run as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import err_console, user_errors

# The run is found exactly as `genlab runs` finds it: same options, same errors.
from genlab.cli.runs import DbOpt, OutOpt, RunArg, find_run, open_run_store
from genlab.cli.terminal import shown

console = Console(highlight=False, soft_wrap=True)
Opt = typer.Option


@user_errors
def report(
    run: RunArg,
    out_dir: OutOpt = Path("outputs"),
    db: DbOpt = None,
    out: Annotated[
        Path | None,
        Opt("--report", "-r", help="Report file, or a folder for it (default: the run's folder)."),
    ] = None,
    extractor: Annotated[
        str | None, Opt(help="Whose measured metrics to plot: shapes, inception or clip.")
    ] = None,
) -> None:
    """One HTML file with the run's settings, contact sheets and metric plots; prints its path."""
    from genlab.services.outputs import check_output_file_or_folder
    from genlab.services.sweeps import stored_metrics, write_report

    if out is not None:
        check_output_file_or_folder(out, "--report")
    with open_run_store(out_dir, db) as store:
        run_id = find_run(store, run).id
        database = store.path
    metrics = stored_metrics(database, run_id, extractor)
    if metrics is None:
        err_console.print(
            shown(
                f"run {run_id} has no metrics yet (genlab eval --run {run_id}); "
                "the report shows its settings and contact sheets"
            )
        )
    with err_console.status("writing the report"):
        path = write_report(database, run_id, out, metrics=metrics, extractor=extractor)
    console.print(shown(path))
