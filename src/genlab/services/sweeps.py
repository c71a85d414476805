"""Sweeps as a user asks for them: plan a grid of requests, run it into a stored run,
read the stored runs back, report on them. The CLI's `genlab sweep`, `runs` and
`report` and the studio's sweep jobs call these; the work itself is genlab.lab's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab.lab.axes import Axis, AxisError
from genlab.lab.records import (
    DB_NAME,
    RunStore,
    RunSummary,
    TimingSummary,
    open_store,
    settings_of,
    timing_summary,
)
from genlab.lab.runner import CellDone, SweepOutcome, check_format, run_sweep
from genlab.lab.sweep import (
    AXIS_NAMES,
    DEFAULT_BUDGET,
    Plan,
    SweepDefinition,
    SweepError,
    batches,
    check_budget,
    definition_from,
    plan,
)

__all__ = [
    "AXIS_NAMES",
    "DB_NAME",
    "DEFAULT_BUDGET",
    "Axis",
    "AxisError",
    "CellDone",
    "Plan",
    "RunStore",
    "RunSummary",
    "SweepDefinition",
    "SweepError",
    "SweepOutcome",
    "TimingSummary",
    "batches",
    "check_budget",
    "check_format",
    "definition_from",
    "descriptor_sets",
    "open_store",
    "plan",
    "run_sweep",
    "settings_of",
    "stored_metrics",
    "timing_summary",
    "write_report",
]


def descriptor_sets() -> dict[str, tuple[str, ...]]:
    """The named descriptor sets a prompt sweep can vary (colour, lighting, …)."""
    from genlab.world.descriptors import DESCRIPTOR_SETS

    return DESCRIPTOR_SETS


def stored_metrics(*args: Any, **kwargs: Any) -> Any:
    """genlab.lab.report.stored_metrics (loaded only when a report is made)."""
    from genlab.lab.report import stored_metrics as read

    return read(*args, **kwargs)


def write_report(*args: Any, **kwargs: Any) -> Path:
    """genlab.lab.report.write_report (loaded only when a report is made)."""
    from genlab.lab.report import write_report as write

    return write(*args, **kwargs)
