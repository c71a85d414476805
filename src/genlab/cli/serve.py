"""`genlab serve` — the studio server: web API, A1111-compatible API, job worker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.core.errors import InvalidRequest

if TYPE_CHECKING:
    from genlab.web.settings import Settings

console = Console(highlight=False)

Opt = typer.Option


@user_errors
def serve(
    host: Annotated[
        str, Opt(help="Address to listen on; beyond 127.0.0.1/localhost/::1 a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port (7860, as A1111, so its clients find it).")] = 7860,
    data: Annotated[
        Path, Opt("--data", help="Folder for the database, images and thumbnails.")
    ] = Path("genlab-data"),
    token: Annotated[
        str | None,
        Opt(
            help="Require this token (Bearer header or cookie); 'auto' makes one and prints it. "
            "Other users can see command lines: prefer --token-file or GENLAB_TOKEN."
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        Opt("--token-file", help="Read the token from this file (a final newline is ignored)."),
    ] = None,
    db_url: Annotated[
        str | None, Opt("--db-url", help="SQLAlchemy URL; default: a SQLite file in --data.")
    ] = None,
    workers: Annotated[
        int,
        Opt(help="Server processes sharing the port; one runs the jobs. More serve more readers."),
    ] = 1,
) -> None:
    """Serve the studio: jobs, gallery and AUTOMATIC1111's /sdapi/v1 API (docs at /docs).

    The token comes from --token, else --token-file, else the GENLAB_TOKEN variable."""
    from genlab.web.settings import Settings, resolve_token

    token = given_token(token, token_file)
    resolved = resolve_token(token)
    settings = Settings(
        data_dir=data, db_url=db_url, host=host, port=port, token=resolved, workers=workers
    )
    shown = f"[{host}]" if ":" in host else host
    console.print(f"genlab studio on http://{shown}:{port}  (data: {data}, API docs: /docs)")
    if token == "auto":
        console.print(f"token: {resolved}")
        console.print(f"open http://{shown}:{port}/login?next=/ or send 'Authorization: Bearer …'")
    run_server(settings)


def given_token(token: str | None, token_file: Path | None) -> str | None:
    """The token as the user gave it: --token, else --token-file, else GENLAB_TOKEN."""
    from genlab.web.settings import read_token_file

    if token is not None and token_file is not None:
        raise InvalidRequest("token", "<hidden>", "give --token or --token-file, not both")
    if token_file is not None:
        return read_token_file(token_file)
    if token is None:
        return os.environ.get("GENLAB_TOKEN") or None
    return token


def run_server(settings: Settings) -> None:
    """Serve until stopped: one process, or `settings.workers` sharing the port."""
    import uvicorn

    from genlab.web.app import create_app

    host, port, workers = settings.host, settings.port, settings.workers
    # Every file the server writes (database, journals, images, thumbnails, uploads) is
    # this user's alone: one process-wide mask covers them all, whichever module
    # creates them, rather than a chmod after each write that a new one could forget.
    os.umask(0o077)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    # Each process builds its own app from the same settings, passed in the environment
    # (the token too: only this user's processes can read another's environment).
    os.environ["GENLAB_SETTINGS"] = settings.to_env()
    uvicorn.run(
        "genlab.web.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
    )
