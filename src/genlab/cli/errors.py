"""How the CLI reports a user's mistake: one line, exit code 2, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from genlab.core.errors import GenlabError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., object])


def fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(code=2)


def user_errors(command: F) -> F:
    """Wrap a command so GenlabError (and unreadable files) end in `fail`."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GenlabError as err:
            raise fail(str(err)) from None
        except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
            raise fail(f"{err.strerror}: {err.filename}") from None

    return wrapper  # type: ignore[return-value]
