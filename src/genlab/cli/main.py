"""`genlab` — the command-line entry point.

Each command group lives in its own module; this file only assembles them and
turns user errors into one line on stderr with exit code 2.
"""

from __future__ import annotations

import typer

from genlab.cli import (
    colour,
    encoder,
    evaluate,
    generate,
    info,
    models,
    report,
    runs,
    serve,
    style,
    sweep,
    train,
    upscale,
    world,
)

app = typer.Typer(
    name="genlab",
    help="genlab: generate, inspect and measure images from text.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("generate")(generate.generate)
app.command("info")(info.info)
app.command("samplers")(models.samplers)
app.command("models")(models.models)
app.command("recolor")(colour.recolor)
app.command("palette")(colour.palette)
app.command("upscale")(upscale.upscale)
app.command("style")(style.style)
app.command("sweep")(sweep.sweep)
app.command("report")(report.report)
app.command("serve")(serve.serve)
app.add_typer(runs.app, name="runs")
app.add_typer(world.app, name="world")
evaluate.app.command("sr")(upscale.eval_sr)
train_app = typer.Typer(help="Train models genlab ships.", no_args_is_help=True)
train_app.command("sr")(upscale.train_sr)
train_app.command("text2image")(train.text2image)
train_app.command("decoder")(train.decoder)
train_app.command("shapes-encoder")(encoder.shapes_encoder)
app.add_typer(train_app, name="train")
app.add_typer(evaluate.app, name="eval")


def main() -> None:
    app()
