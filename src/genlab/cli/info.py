"""`genlab info` — show the generation parameters stored in an image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors

console = Console(highlight=False, soft_wrap=True)


@user_errors
def info(
    image: Annotated[Path, typer.Argument(help="A PNG, JPEG or WebP image.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the genlab record.")] = False,
) -> None:
    """Print an image's A1111 parameters (works for A1111, genlab and other tools' files)."""
    from genlab.core.errors import MetadataError
    from genlab.core.metadata import read_metadata

    meta = read_metadata(image)
    if as_json:
        if meta.record is None:
            raise MetadataError(f"{image} has no genlab record (written by {meta.source})")
        console.print_json(json.dumps(meta.record))
        return
    if meta.parameters is None:
        raise MetadataError(
            f"{image} has no generation parameters (no A1111 'parameters' or genlab chunk)"
        )
    console.print(meta.parameters, markup=False)
