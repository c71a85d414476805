"""`genlab audit …` — what models draw when a prompt leaves things open."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.terminal import shown

app = typer.Typer(help="Audit what models draw.", no_args_is_help=True)
console = Console(highlight=False)


@app.command("outputs")
@user_errors
def outputs(
    prompts: Annotated[Path, typer.Option("--prompts", help="Prompt file, one per line.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model to audit.")] = "procedural",
    images: Annotated[int, typer.Option(help="Images per prompt.")] = 8,
    training: Annotated[
        Path | None, typer.Option(help="The model's training folder (default: uniform).")
    ] = None,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 64,
    seed: Annotated[int, typer.Option(help="First seed of each prompt's batch.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for output-bias.json.")] = Path(
        "audit"
    ),
) -> None:
    """For under-specified prompts ("a shape"), the distribution of what the model
    draws, read by the Shapes World detector, against its training distribution: shares
    with Wilson 95% intervals and a G-test."""
    from genlab.services.data import output_bias

    report = output_bias(
        model, prompts, out, images=images, training=training, size=size, seed=seed
    )
    for name, entry in report["attributes"].items():
        test = entry.get("g_test")
        verdict = (
            f"G = {test['g']:.1f}, dof {test['dof']}, p = {test['p']:.3g}" if test else "no test"
        )
        console.print(f"{shown(name)} (n = {entry['n']}): {verdict}")
        for value, row in entry["values"].items():
            low, high = row["ci"]
            console.print(
                f"  {shown(value)}: {row['share']:.1%} [{low:.1%}, {high:.1%}]"
                f"  training {row['training']:.1%}"
            )
    console.print(f"results: {shown(out / 'output-bias.json')}")
