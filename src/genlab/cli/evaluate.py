"""`genlab eval …` — measure image folders, sweep runs and models.

`genlab eval DIR_A DIR_B` and `genlab eval --run ID` have no subcommand word: the group
sends any first argument that names no subcommand to the hidden `measure` command, so
`genlab eval adherence` and `genlab eval sr` keep working beside them. (A folder that
shares a subcommand's name can be written `./adherence`.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table
from typer.core import TyperGroup

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown

if TYPE_CHECKING:
    from genlab.services.evaluation import FolderComparison, MetricValue, RunMetrics

DEFAULT_COMMAND = "measure"


class FoldersOrSubcommand(TyperGroup):
    """A group whose arguments go to `DEFAULT_COMMAND` unless they start with a
    subcommand's name or ask for the group's help."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=FoldersOrSubcommand,
    no_args_is_help=True,
    subcommand_metavar="DIR_A DIR_B | --run ID | COMMAND [ARGS]...",
    help=(
        "Measure images and models.\n\n"
        "genlab eval DIR_A DIR_B compares two image folders (FD, KID, precision/recall, "
        "diversity); genlab eval --run ID measures a sweep run per axis value (adherence, "
        "diversity, FD/KID against procedural renders). Their options: genlab eval "
        "measure --help. The commands below measure models."
    ),
)
console = Console(highlight=False, soft_wrap=True)


@app.command("adherence")
@user_errors
def adherence(
    model: Annotated[str, typer.Option("--model", "-m", help="Model to measure.")] = "procedural",
    images_per_prompt: Annotated[int, typer.Option("--images-per-prompt", "-n")] = 4,
    seed: Annotated[int, typer.Option(help="First seed of each prompt's batch.")] = 0,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    sampler: Annotated[str | None, typer.Option(help="A1111 sampler name.")] = None,
    guidance_scale: Annotated[float | None, typer.Option("--guidance-scale", "--cfg")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """Prompt adherence on held-out Shapes World combinations, judged by the detector."""
    from genlab.core.errors import InvalidRequest
    from genlab.services.evaluation import adherence as run

    if not 1 <= images_per_prompt <= 64:
        raise InvalidRequest("images_per_prompt", images_per_prompt, "must be 1 to 64")
    _check_json_out(json_out)
    settings = {
        k: v
        for k, v in {"steps": steps, "sampler": sampler, "guidance_scale": guidance_scale}.items()
        if v is not None
    }
    with progress_bar(console) as progress:
        task = progress.add_task("prompts", total=None)
        report = run(
            model,
            images_per_prompt=images_per_prompt,
            seed=seed,
            settings=settings,
            on_prompt=lambda i, n: progress.update(task, completed=i, total=n),
        )
    table = Table(
        "category", "accuracy", "95% CI", "correct / images", "prompts", title=shown(model)
    )
    for c in report.categories:
        table.add_row(
            c.category,
            f"{c.accuracy:.3f}",
            f"[{c.low:.3f}, {c.high:.3f}]",
            f"{c.correct} / {c.images}",
            str(c.prompts),
        )
    table.add_row(
        "overall (mean)",
        f"{report.overall:.3f}",
        f"[{report.overall_low:.3f}, {report.overall_high:.3f}]",
        "",
        "",
    )
    console.print(table)
    if json_out is not None:
        _write_json(json_out, report.to_dict())


def _check_json_out(json_out: Path | None) -> None:
    """A --json file that cannot be written is found before the measuring starts."""
    from genlab.services.outputs import check_output_file

    if json_out is not None:
        check_output_file(json_out, "--json")


def _write_json(json_out: Path, data: dict[str, Any]) -> None:
    from genlab.services.outputs import write_text_atomically

    write_text_atomically(json_out, json.dumps(data, indent=2))
    console.print(f"JSON: {shown(json_out)}")


FoldersArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Two image folders: DIR_A, the reference (real) set, then DIR_B, the set "
        "measured. Top-level .png .jpg .jpeg .webp files are read.",
        metavar="DIR_A DIR_B",
        show_default=False,
    ),
]
RunOpt = Annotated[
    str | None, typer.Option("--run", help="Measure a sweep run instead: its id, or 'last'.")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="--run: the sweeps' output folder.")]
DbOpt = Annotated[
    Path | None, typer.Option(help="--run: run database (default OUT/genlab-runs.sqlite).")
]
ExtractorOpt = Annotated[
    str,
    typer.Option(
        "--extractor",
        "-e",
        help="Feature extractor: shapes (offline default), inception (FID; local weights) "
        "or clip (local weights).",
    ),
]
WeightsOpt = Annotated[Path | None, typer.Option(help="The extractor's weights file.")]
ReferenceOpt = Annotated[
    str, typer.Option(help="--run: what FD and KID compare with: procedural or none.")
]
ResamplesOpt = Annotated[
    int, typer.Option(help="Folders: bootstrap resamples for FD's interval (0: none).")
]
DeviceOpt = Annotated[str | None, typer.Option(help="cuda, mps or cpu (default: best).")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")]


@app.command(DEFAULT_COMMAND, hidden=True)
@user_errors
def measure(
    folders: FoldersArg = None,
    run: RunOpt = None,
    out: OutOpt = Path("outputs"),
    db: DbOpt = None,
    extractor: ExtractorOpt = "shapes",
    weights: WeightsOpt = None,
    reference: ReferenceOpt = "procedural",
    resamples: ResamplesOpt = 50,
    device: DeviceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Compare two image folders (genlab eval DIR_A DIR_B), or measure a sweep run per
    axis value (genlab eval --run ID); every feature metric is named for its extractor."""
    from genlab.core.errors import InvalidRequest

    folders = folders or []
    if run is not None and folders:
        raise InvalidRequest("run", run, "give two folders or --run, not both")
    if run is None and len(folders) != 2:
        shown = " ".join(str(f) for f in folders) or "nothing"
        commands = ", ".join(c.name for c in app.registered_commands if not c.hidden)
        raise InvalidRequest(
            "folders",
            shown,
            f"give two image folders (genlab eval DIR_A DIR_B), --run ID, or a command: {commands}",
        )
    if resamples == 1 or resamples < 0:
        raise InvalidRequest("resamples", resamples, "must be 0 (no interval) or at least 2")
    _check_json_out(json_out)
    if run is not None:
        result: Any = _measure_run(run, out, db, extractor, weights, reference, device)
    else:
        result = _compare(folders[0], folders[1], extractor, weights, resamples, device)
    if json_out is not None:
        _write_json(json_out, result.to_dict())


def _compare(
    dir_a: Path,
    dir_b: Path,
    extractor: str,
    weights: Path | None,
    resamples: int,
    device: str | None,
) -> FolderComparison:
    from genlab.services.evaluation import compare_folders

    with _Bars() as advance:
        result = compare_folders(
            dir_a,
            dir_b,
            extractor=extractor,
            weights=weights,
            device=device,
            fd_resamples=resamples,
            on_progress=advance,
        )
    for side, folder in zip("AB", result.folders):
        sizes = ", ".join(f"{size} ×{count}" for size, count in folder.sizes.items())
        _say(f"{side}: {folder.path} — {folder.images} images ({sizes})")
    _say(f"extractor: {result.extractor} ({result.dim}-D); images resized: {result.resize}")
    table = _table("metric")
    for m in result.metrics:
        table.add_row(
            shown(m.name),
            _value(m.value, m.std),
            _interval(m.low, m.high),
            " / ".join(str(n) for n in m.n),
            m.extractor,
        )
    console.print(table)
    for m in result.metrics:
        if m.low is not None or m.std is not None or m.name.startswith("KID"):
            _say(f"{m.name}: {m.method}")
    for note in result.notes:
        _say(f"note: {note}")
    return result


def _measure_run(
    run: str,
    out: Path,
    db: Path | None,
    extractor: str,
    weights: Path | None,
    reference: str,
    device: str | None,
) -> RunMetrics:
    from genlab.cli.runs import find_run, open_run_store
    from genlab.services.evaluation import fd_name, measure_run

    with open_run_store(out, db) as store:
        summary = find_run(store, run)
        database = store.path
    with _Bars() as advance:
        result = measure_run(
            database,
            summary.id,
            extractor=extractor,
            weights=weights,
            reference=reference,
            device=device,
            on_progress=advance,
        )
    names = {
        "adherence": "adherence",
        "diversity": f"diversity[{result.extractor}]",
        "fd": fd_name(result.extractor),
        "kid": f"KID[{result.extractor}]",
    }
    _say(f"run {result.run_id}: {summary.definition['fields'].get('prompt', '')!r}")
    _say(f"extractor: {result.extractor}; reference: {result.reference or 'none'}")
    table = _table("group", "metric")
    rows = [(f"{g.axis} {g.axis_name}={g.label}", g.metrics) for g in result.groups]
    for group, metrics in [*rows, ("overall", result.overall)]:
        for i, (key, m) in enumerate(_ordered(metrics)):
            table.add_row(
                shown(group) if i == 0 else "",
                shown(names.get(key, key)),
                _value(m.value, None),
                _interval(m.low, m.high),
                str(m.n),
                m.extractor or ("detector" if key == "adherence" else ""),
            )
        table.add_section()
    console.print(table)
    for line in _run_notes(result, summary.cells_done, names["fd"]):
        _say(f"note: {line}")
    _say(f"stored in {database}; `genlab report {result.run_id}` plots it")
    return result


class _Bars:
    """One progress bar per stage, drawn from the first report on, and only on a
    terminal: a mistake found before any work (a missing folder, an unknown extractor)
    leaves no trace of one, and piped output holds only the results."""

    def __init__(self) -> None:
        self.progress = progress_bar(console)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Callable[[str, int, int], None]:
        return self.advance

    def __exit__(self, *exc: object) -> None:
        if self.tasks:
            self.progress.stop()

    def advance(self, stage: str, done: int, total: int) -> None:
        if not console.is_terminal:
            return
        if not self.tasks:
            self.progress.start()
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _ordered(metrics: dict[str, MetricValue]) -> list[tuple[str, MetricValue]]:
    order = ["adherence", "diversity", "fd", "kid"]
    return sorted(
        metrics.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 9, kv[0])
    )


def _run_notes(result: RunMetrics, cells: int, fd: str) -> list[str]:
    """What a reader of the table would otherwise wonder about: missing rows."""
    notes = []
    judged = result.overall.get("adherence")
    if judged is None or judged.n < cells:
        notes.append(
            f"adherence judged {judged.n if judged else 0} of {cells} cells; the others' "
            "prompts are not Shapes World prompts the detector can judge (each cell's "
            "metrics say why)"
        )
    if result.reference and any("fd" not in g.metrics for g in result.groups):
        notes.append(
            f"{fd} is left out of groups with no more images than the extractor's "
            "dimensions (its covariance would be singular); KID has no such floor"
        )
    if any("diversity" not in g.metrics for g in result.groups):
        notes.append("diversity is left out of groups with no two images that differ only by seed")
    return notes


def _table(*first: str) -> Table:
    """Only the group label wraps: a metric name or CI broken over two lines reads as two."""
    names = (*first, "value", "95% CI", "N", "extractor")
    columns = (Column(name, no_wrap=name != "group") for name in names)
    return Table(*columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def _number(value: float) -> str:
    # FD of a set against itself comes out as rounding noise (1e-15): show it as 0.
    return "0" if abs(value) < 1e-9 else f"{value:.4g}"


def _value(value: float, std: float | None) -> str:
    return _number(value) if std is None else f"{_number(value)} ± {std:.2g}"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{_number(low)}, {_number(high)}]"


def _say(text: str) -> None:
    console.print(shown(text))
