"""`genlab models` and `genlab samplers` — what can run, and how."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from genlab.cli.errors import user_errors
from genlab.cli.terminal import shown
from genlab.core.request import LoadOptions

console = Console(highlight=False)


@user_errors
def samplers(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="List what this model accepts.")
    ] = None,
    config: Annotated[str | None, typer.Option(help="Config for a single-file checkpoint.")] = None,
    allow_pickle: Annotated[bool, typer.Option(help="Allow pickled checkpoints.")] = False,
) -> None:
    """List A1111 sampler and schedule names, or those a given model accepts."""
    from genlab.core.samplers import SAMPLERS, SCHEDULES

    if model is None:
        table = Table("sampler", "schedule types")
        for name in SAMPLERS:
            table.add_row(name, ", ".join(SCHEDULES))
        console.print(table)
        console.print("Use --model to see which combinations a model accepts.")
        return
    from genlab.services.catalog import loaded_samplers

    with console.status(f"loading {shown(model)}…"):
        options = LoadOptions(config=config, allow_pickle=allow_pickle)
        name, engine, accepted = loaded_samplers(model, options)
    if not accepted:
        console.print(f"{shown(name)} ({engine} engine) has no samplers: it is not a diffuser.")
        return
    table = Table("sampler", "schedule types", title=shown(name))
    for name, schedules in accepted:
        table.add_row(name, ", ".join(schedules))
    console.print(table)


@user_errors
def models() -> None:
    """List the engines and the models found locally (no downloads)."""
    from genlab.services.catalog import local_models

    table = Table("model", "engine", "source", "description")
    for item in local_models():
        # Names and sources come from folder and file names on disk.
        table.add_row(*(shown(v) for v in (item.name, item.engine, item.source, item.description)))
    console.print(table)
