"""Where commands write, and saving what the image tools (style, recolor, palette,
upscale) produce.

Every output path a user names goes through `check_output_folder` or
`check_output_file` before any work: a folder that is a file, sits under a file, is
not writable or has a name too long ends there, in one line naming the path, and
nothing is written.

A tool's output carries its parameters the way A1111's extras tab does: the source
image's own `parameters` text is kept (so a restyled generation still says how it
was generated) and the tool's settings are appended to its parameter line as
`Postprocess <key>: value` entries; the genlab record holds the full settings.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.errors import InvalidRequest, UnsupportedImage
from genlab.core.files import atomic_file
from genlab.core.imageio import IMAGE_SUFFIXES
from genlab.core.text import brief

if TYPE_CHECKING:
    from PIL import Image


# File names are at most 255 bytes on Linux, macOS and Windows alike (NAME_MAX), and a
# file is first written as the hidden sibling `.<name>.<8 hex>.tmp`: 14 bytes more.
NAME_MAX = 255
TEMP_EXTRA = len("." + ".0123abcd.tmp")
PATH_MAX = 4096


def check_output_folder(folder: Path, flag: str = "--out") -> Path:
    """`folder` if a command can create it (or it exists) and write into it; else an
    InvalidRequest naming `flag`, the path and the problem. Nothing is created."""
    folder = Path(folder)
    _check_lengths(folder, flag, NAME_MAX)
    _check_folder(folder, flag, folder)
    return folder


def _check_folder(folder: Path, flag: str, given: Path) -> None:
    """`check_output_folder`'s walk; errors quote `given`, the path the user named."""
    deepest = Path(folder.anchor or ".")
    for part in folder.parts[1:] if folder.anchor else folder.parts:
        here = deepest / part
        try:
            mode = os.stat(here).st_mode
        except FileNotFoundError:
            break  # created when the command writes
        except OSError as err:
            raise _refused(
                given, flag, f"{brief(str(here))} cannot be read ({err.strerror})"
            ) from None
        if not stat.S_ISDIR(mode):
            where = "it exists" if here == given else f"{brief(str(here))} on its path exists"
            raise _refused(given, flag, f"{where} and is not a folder")
        deepest = here
    if not os.access(deepest, os.W_OK | os.X_OK):
        raise _refused(given, flag, f"the folder {brief(str(deepest))} is not writable")


def check_output_file(path: Path, flag: str = "--out") -> Path:
    """`path` if a command can write a file there, replacing it atomically (see
    `write_text_atomically`); else an InvalidRequest. Only a regular file is ever
    replaced: a folder, a device such as /dev/null or a pipe is refused."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise _refused(path, flag, "it names a folder; name a file")
    _check_lengths(path, flag, NAME_MAX - TEMP_EXTRA)
    _check_folder(path.parent, flag, path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return path
    except OSError as err:
        raise _refused(path, flag, f"it cannot be read ({err.strerror})") from None
    if stat.S_ISDIR(mode):
        raise _refused(path, flag, "it is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise _refused(path, flag, "it exists and is not a regular file (a device or pipe)")
    return path


def check_output_file_or_folder(path: Path, flag: str) -> Path:
    """For flags that take a file, or an existing folder to put it in (a report, a run
    database): `check_output_folder` when `path` is a folder, else `check_output_file`."""
    path = Path(path)
    try:
        is_folder = stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, or a name the system refuses: checked below
        is_folder = False
    return check_output_folder(path, flag) if is_folder else check_output_file(path, flag)


def _check_lengths(path: Path, flag: str, name_max: int) -> None:
    try:
        encoded = os.fsencode(path)
    except UnicodeError:  # text no file system can store (a lone surrogate)
        raise _refused(path, flag, "it is not a valid file name") from None
    if b"\0" in encoded:
        raise _refused(path, flag, "a file name cannot hold a NUL character")
    if len(encoded) > PATH_MAX:
        raise _refused(path, flag, f"the path is {len(encoded)} bytes; at most {PATH_MAX}")
    last = len(path.parts) - 1
    for i, part in enumerate(path.parts):
        limit = name_max if i == last else NAME_MAX
        size = len(os.fsencode(part))
        if size > limit:
            raise _refused(
                path, flag, f"the name {brief(part, 40)} is {size} bytes; at most {limit}"
            )


def _refused(path: Path, flag: str, problem: str) -> InvalidRequest:
    return InvalidRequest(flag, str(path), problem)


def write_text_atomically(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a hidden sibling renamed into place: the
    file is the complete new text or what it was before, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def output_path(out: Path, source: Path, tool: str) -> Path:
    """`out` itself when it names an image file, else a fresh `<stem>-<tool>[-n].png`
    inside the folder `out` — never an existing file. Either is checked to be writable
    (`check_output_file`) before the tool does any work."""
    if out.suffix.lower() in IMAGE_SUFFIXES:
        return check_output_file(out)
    if out.suffix:
        raise UnsupportedImage(
            f"--out {out} has suffix {out.suffix!r}; use a folder or one of "
            f"{', '.join(IMAGE_SUFFIXES)}"
        )
    check_output_folder(out)
    candidate = out / f"{source.stem}-{tool}.png"
    n = 1
    while candidate.exists():
        n += 1
        candidate = out / f"{source.stem}-{tool}-{n}.png"
    return check_output_file(candidate)


def save_tool_image(
    image: Image.Image,
    path: Path,
    *,
    tool: str,
    params: Mapping[str, Any],
    source: Path | None = None,
) -> Path:
    """Write `image` atomically with the source's parameters plus the tool's own."""
    from genlab.core.imageio import read_metadata, save_image
    from genlab.core.metadata import format_parameters, parse_parameters, version_string

    source_meta = read_metadata(source) if source is not None else None
    entries = {f"Postprocess {key}": value for key, value in params.items()}
    entries["Postprocess tool"] = tool
    if source_meta is not None and source_meta.parameters:
        parsed = parse_parameters(source_meta.parameters)
        merged = {**parsed.params, **entries}
        merged["Version"] = merged.pop("Version", version_string())  # stays last
        text = format_parameters(parsed.prompt, parsed.negative_prompt, merged)
    else:
        text = format_parameters("", "", {**entries, "Version": version_string()})
    source_record = source_meta.record if source_meta is not None else None
    record = {
        "version": version_string(),
        # The generation this image came from, so `generate --from` still works on it.
        "request": (source_record or {}).get("request"),
        "tool": tool,
        "params": {k: _json_safe(v) for k, v in params.items()},
        # The source by name and content, never by full path: a path would publish
        # the user's (or the server's) folder layout inside every shared image.
        "source": _source_identity(source) if source is not None else None,
        "source_record": source_record,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_image(image, path, text, record)


def _source_identity(source: Path) -> dict[str, str]:
    import hashlib

    return {"name": source.name, "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)
