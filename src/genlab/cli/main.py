"""`genlab` — the command-line entry point.

Each command group lives in its own module; this file only assembles them and
turns user errors into one line on stderr with exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from genlab.cli import (
    audit,
    colour,
    data,
    encoder,
    evaluate,
    gan,
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
from genlab.cli.errors import fail


class OneLineErrors(TyperGroup):
    """The `genlab` group, whose usage errors read like genlab's own: an unknown option,
    a missing argument or a bad value is one line on stderr (`error: …`, exit code 2),
    not typer's usage text and boxed message. Help and exit codes are click's."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # a caller that handles click's exceptions itself
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            # Not standalone: click raises its errors here instead of printing them,
            # and returns the exit code of a typer.Exit (0 after --help).
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.TyperException as err:  # click's UsageError, BadParameter, …
            _usage_error(err)
        except typer.Abort:  # Ctrl-C at a prompt, or end of input
            fail("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def _usage_error(err: typer.TyperException) -> NoReturn:
    if type(err).__name__ == "NoArgsIsHelpError":
        sys.exit(2)  # the help text was shown; click exits 2 here too
    message = err.format_message()
    ctx = getattr(err, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message = f"{message.rstrip('.')} (see {ctx.command_path} {ctx.help_option_names[0]})"
    fail(message)
    sys.exit(2)


app = typer.Typer(
    name="genlab",
    cls=OneLineErrors,
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
app.add_typer(data.app, name="data")
app.add_typer(audit.app, name="audit")
app.add_typer(gan.app, name="gan")
evaluate.app.command("sr")(upscale.eval_sr)
train_app = typer.Typer(help="Train models genlab ships.", no_args_is_help=True)
train_app.command("sr")(upscale.train_sr)
train_app.command("text2image")(train.text2image)
train_app.command("decoder")(train.decoder)
train_app.command("shapes-encoder")(encoder.shapes_encoder)
train_app.command("gan")(gan.train)
app.add_typer(train_app, name="train")
app.add_typer(evaluate.app, name="eval")


def main() -> None:
    app()


if __name__ == "__main__":  # `python -m genlab.cli.main …`, where the script is not installed
    main()
