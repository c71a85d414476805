"""`genlab eval …` — measure models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from genlab.cli.errors import user_errors
from genlab.cli.progress import progress_bar

app = typer.Typer(help="Measure models: prompt adherence (more metrics to come).")
console = Console(highlight=False)


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
    table = Table("category", "accuracy", "95% CI", "correct / images", "prompts", title=model)
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
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), indent=2))
        console.print(f"JSON: {json_out}")
