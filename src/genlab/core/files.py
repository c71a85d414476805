"""Writing a file so that a reader sees the whole old file or the whole new one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_file(path: Path, mode: str = "wb", **open_args: Any) -> Iterator[IO[Any]]:
    """A handle on a hidden, random sibling of `path`, renamed over it when the block
    ends without an error (removed otherwise). The sibling shares the file system, so
    the rename is atomic, and its random name never clashes with a concurrent write;
    opening it with "x" keeps the usual umask permissions."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    done = False
    try:
        with open(temp, mode.replace("w", "x"), **open_args) as handle:
            yield handle
        os.replace(temp, path)
        done = True
    finally:
        if not done:
            temp.unlink(missing_ok=True)
