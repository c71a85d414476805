"""How the CLI reports a user's mistake: one line, exit code 2, no traceback."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console

from genlab.cli.terminal import shown
from genlab.core.errors import GenlabError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., object])


def fail(message: str) -> typer.Exit:
    """Print `error: message` as one printable line on stderr; raise what it returns.

    Messages quote paths and values from files, which may hold escape sequences and
    newlines: they are shown as escapes, so the error stays one harmless line."""
    err_console.print(f"[bold red]error:[/] {shown(message)}", markup=True)
    return typer.Exit(code=2)


def user_errors(command: F) -> F:
    """Wrap a command so GenlabError and failed file operations end in `fail`."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GenlabError as err:
            raise fail(str(err)) from None
        except BrokenPipeError:
            raise  # stdout closed by a pager or `head`: click ends quietly
        except OSError as err:
            # A full disk, a read-only file system, a name too long, a file where a
            # folder was expected: the system's reason and the path, in one line.
            raise fail(os_error_message(err)) from None

    return wrapper  # type: ignore[return-value]


def os_error_message(err: OSError) -> str:
    """`reason: path` (or `reason: path -> path2` for a rename) for an OSError."""
    reason = err.strerror or str(err) or type(err).__name__
    names = [_name(n) for n in (err.filename, err.filename2) if n is not None]
    return f"{reason}: {' -> '.join(names)}" if names else reason


def _name(name: object) -> str:
    return os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else str(name)
