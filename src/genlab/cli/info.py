"""`genlab info` — show the generation parameters stored in an image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.terminal import shown_text

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
    # What a file says is shown, never obeyed: escape sequences and bidi overrides in
    # it are printed as escapes (see genlab.cli.terminal).
    if as_json:
        if meta.record is None:
            raise MetadataError(f"{image} has no genlab record (written by {meta.source})")
        text = json.dumps(meta.record, indent=2, ensure_ascii=False)
        console.print(shown_text(text), markup=False)
        return
    if meta.parameters is None:
        raise MetadataError(
            f"{image} has no generation parameters (no A1111 'parameters' or genlab chunk)"
        )
    console.print(shown_text(meta.parameters), markup=False)
