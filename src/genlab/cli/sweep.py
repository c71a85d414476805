"""`genlab sweep` — A1111's X/Y/Z plot: a prompt varied along up to three axes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown
from genlab.core.request import LoadOptions
from genlab.services.sweeps import DEFAULT_BUDGET

if TYPE_CHECKING:
    from genlab.services.sweeps import Plan, SweepOutcome

console = Console(highlight=False, soft_wrap=True)
Opt = typer.Option
AXIS_HELP = (
    'e.g. "seed=1-4", "guidance_scale=3,7.5", "size=64x64,128x128", "sr=red,blue", '
    '"descriptors=lighting", "order", "density=colour".'
)


@user_errors
def sweep(
    prompt: Annotated[str | None, typer.Argument(help="The prompt to vary.")] = None,
    x: Annotated[str | None, Opt("--x", help=f"X axis (columns): {AXIS_HELP}")] = None,
    y: Annotated[str | None, Opt("--y", help="Y axis (rows).")] = None,
    z: Annotated[str | None, Opt("--z", help="Z axis (one contact sheet each).")] = None,
    file: Annotated[Path | None, Opt("--file", "-f", help="A sweep.toml; flags win.")] = None,
    out: Annotated[Path, Opt("--out", "-o", help="Output folder.")] = Path("outputs"),
    db: Annotated[Path | None, Opt(help="Run database (default OUT/genlab-runs.sqlite).")] = None,
    dry_run: Annotated[bool, Opt("--dry-run", help="Print the plan; generate nothing.")] = False,
    yes: Annotated[bool, Opt("--yes", help="Run even when over the budget.")] = False,
    budget: Annotated[int, Opt(help="Images a sweep may make without --yes.")] = DEFAULT_BUDGET,
    fresh: Annotated[bool, Opt("--fresh", help="Start a new run; do not resume.")] = False,
    negative_prompt: Annotated[str | None, Opt("--negative-prompt", "-n")] = None,
    width: Annotated[int | None, Opt("--width", "-W", help="Multiple of 8.")] = None,
    height: Annotated[int | None, Opt("--height", "-H", help="Multiple of 8.")] = None,
    steps: Annotated[int | None, Opt(help="Denoising steps.")] = None,
    guidance_scale: Annotated[float | None, Opt("--guidance-scale", "--cfg")] = None,
    sampler: Annotated[str | None, Opt(help="A1111 name, e.g. 'DPM++ 2M'.")] = None,
    schedule: Annotated[str | None, Opt(help="Karras, Exponential, SGM Uniform, …")] = None,
    seed: Annotated[int | None, Opt(help="-1 (default): one random seed for the sweep.")] = None,
    model: Annotated[str | None, Opt("--model", "-m", help="procedural, a hub id, …")] = None,
    init_image: Annotated[Path | None, Opt(help="img2img source image.")] = None,
    strength: Annotated[float | None, Opt(help="Denoising strength for img2img.")] = None,
    image_format: Annotated[str, Opt("--format", help="png, jpg or webp.")] = "png",
    device: Annotated[str | None, Opt(help="cuda, mps or cpu (default: best).")] = None,
    dtype: Annotated[str | None, Opt(help="fp16, bf16 or fp32.")] = None,
) -> None:
    """Generate a grid of variations, one contact sheet per Z value; re-run to resume."""
    from genlab.services.sweeps import check_budget, check_format, definition_from, plan, run_sweep

    # The flags, in GenerationRequest's field names.
    texts = dict(prompt=prompt, negative_prompt=negative_prompt, model=model, seed=seed)
    size = dict(width=width, height=height, init_image=init_image, strength=strength)
    sampling = dict(steps=steps, guidance_scale=guidance_scale, sampler=sampler, schedule=schedule)
    fields = {**texts, **size, **sampling}
    definition = definition_from(fields, {"x": x, "y": y, "z": z}, file)
    planned = plan(definition)
    if dry_run:
        print_plan(planned, budget)
        return
    check_budget(len(planned), budget, yes)
    check_format(image_format)
    check_outputs(out, db)
    load = LoadOptions(device=device, dtype=dtype)
    with progress_bar(console) as progress:
        task = progress.add_task("sweeping", total=len(planned))
        outcome = run_sweep(
            definition,
            out,
            database=db,
            load=load,
            fresh=fresh,
            image_format=image_format,
            on_cell=lambda done: progress.update(task, completed=done.done),
        )
    print_outcome(outcome)


def print_outcome(outcome: SweepOutcome) -> None:
    """Warnings, where the images and the run record went, and the contact sheets."""
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/] {shown(warning)}")
    before = f", {outcome.skipped} from an earlier run" if outcome.skipped else ""
    _say(
        f"{len(outcome.plan)} images in {outcome.folder} ({outcome.generated} new{before}); "
        f"run {outcome.run_id} in {outcome.database}"
    )
    for sheet in outcome.sheets:
        _say(f"{sheet}  (contact sheet)")


def check_outputs(out: Path, db: Path | None) -> None:
    """The output folder and the run database can be written, before any image is made."""
    from genlab.services.outputs import check_output_file_or_folder, check_output_folder

    check_output_folder(out)
    if db is not None:  # a database file, or a folder to hold one
        check_output_file_or_folder(db, "--db")


def print_plan(planned: Plan, budget: int) -> None:
    """One line per cell (its axis labels and the settings that vary), then the count."""
    from genlab.services.sweeps import batches

    requests = [cell.request.to_dict() for cell in planned.cells]
    varying = [k for k in requests[0] if any(r[k] != requests[0][k] for r in requests)]
    for cell, request in zip(planned.cells, requests):
        settings = "  ".join(f"{k}={request[k]!r}" for k in varying if k != "prompt")
        prompt = f"  prompt={request['prompt']!r}" if "prompt" in varying else ""
        where = planned.describe(cell) or "single cell"
        _say(f"{cell.index:>5}  {where}  {settings}{prompt}".rstrip())
    axes = ", ".join(
        f"{axis.name.upper()}: {axis.title} × {len(axis.labels)}"
        for axis in planned.axes
        if axis.title
    )
    calls = len(batches(planned.cells))
    _say(f"{len(planned)} images in {calls} model calls ({axes or 'no axes'})")
    if any(cell.request.seed == -1 for cell in planned.cells):
        _say("seed -1: one random seed is chosen for the whole sweep when it starts")
    if len(planned) > budget:
        console.print(f"over the budget of {budget} images: running it needs --yes")


def _say(text: str) -> None:
    console.print(shown(text))
