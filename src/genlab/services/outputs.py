"""Saving what the image tools (style, recolor, palette, upscale) produce.

A tool's output carries its parameters the way A1111's extras tab does: the source
image's own `parameters` text is kept (so a restyled generation still says how it
was generated) and the tool's settings are appended to its parameter line as
`Postprocess <key>: value` entries; the genlab record holds the full settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.errors import UnsupportedImage

if TYPE_CHECKING:
    from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def output_path(out: Path, source: Path, tool: str) -> Path:
    """`out` itself when it names an image file, else a fresh `<stem>-<tool>[-n].png`
    inside the folder `out` — never an existing file."""
    if out.suffix.lower() in IMAGE_SUFFIXES:
        return out
    if out.suffix:
        raise UnsupportedImage(
            f"--out {out} has suffix {out.suffix!r}; use a folder or one of "
            f"{', '.join(IMAGE_SUFFIXES)}"
        )
    candidate = out / f"{source.stem}-{tool}.png"
    n = 1
    while candidate.exists():
        n += 1
        candidate = out / f"{source.stem}-{tool}-{n}.png"
    return candidate


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
