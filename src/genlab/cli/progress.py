"""The one progress bar every command draws: steps done, elapsed time and ETA."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def stage_steps(progress: Progress, console: Console, every: int = 50) -> Callable[[Any], None]:
    """An `on_step` for trainers that report (stage, step, total, loss): one bar per
    stage; where the output is a log, not a terminal, a line every `every` steps."""
    tasks: dict[str, TaskID] = {}

    def on_step(info: Any) -> None:
        if info.stage not in tasks:
            tasks[info.stage] = progress.add_task(info.stage, total=info.total)
        progress.update(
            tasks[info.stage], completed=info.step, description=f"{info.stage} loss {info.loss:.4f}"
        )
        if not console.is_terminal and info.step % every == 0:  # logs get a line now and then
            console.print(f"{info.stage} step {info.step}/{info.total} loss {info.loss:.4f}")

    return on_step
