"""Read an image folder for auditing: one record per image, every unusable row listed.

Two layouts, the ones users have:
- a Hugging Face "imagefolder": `metadata.jsonl` rows with `file_name` and any of
  `text` (or `caption`), `scene` (a Shapes World scene graph, as `genlab world
  dataset` writes) and other string fields, which are labels (`"label": "cat"`);
- bare images (any depth), which carry no attributes until predicted.

A row is a problem, listed with its line number and never silently dropped, when it
is not JSON, names no file, names a file outside the folder (`../x.png`, an absolute
path, a link out), names a missing file or one named twice, or holds text that is not
valid Unicode. Images are not decoded here: a corrupt file is found, and listed, by
the first step that reads pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError
from genlab.core.text import brief, text_problem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
METADATA = "metadata.jsonl"
# Row keys that are not labels: the file, its caption, its scene graph.
RESERVED = frozenset({"file_name", "text", "caption", "scene"})
MAX_LABEL_CHARS = 200


class DataError(GenlabError):
    """A data folder that cannot be read at all."""


@dataclass(frozen=True)
class Record:
    name: str  # the file name as the folder states it (relative, "/"-separated)
    path: Path
    caption: str | None = None
    scene: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Folder:
    root: Path
    records: list[Record]
    problems: list[str]  # "where: what", in file order
    has_metadata: bool


def read_folder(root: Path) -> Folder:
    """The usable records of `root` and a list of the rows that are not."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    if (root / METADATA).is_file():
        records, problems = _metadata_records(root)
        return Folder(root, records, problems, True)
    records = [
        Record(path.relative_to(root).as_posix(), path)
        for path in sorted(root.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and _inside(root, path)
    ]
    if not records:
        raise DataError(f"{root} has no {METADATA} and no images ({', '.join(IMAGE_SUFFIXES)})")
    return Folder(root, records, [], False)


def _metadata_records(root: Path) -> tuple[list[Record], list[str]]:
    records: list[Record] = []
    problems: list[str] = []
    seen: set[str] = set()
    data = (root / METADATA).read_bytes()
    # Invalid UTF-8 becomes U+FFFD here, and such a row's text is refused below.
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{METADATA} line {number}"
        try:
            record = _record(root, json.loads(line), seen)
        except (json.JSONDecodeError, RecursionError):
            problems.append(f"{where}: not JSON")
        except ValueError as err:
            problems.append(f"{where}: {err}")
        else:
            records.append(record)
    return records, problems


def _record(root: Path, row: object, seen: set[str]) -> Record:
    """One row as a Record; ValueError says what is wrong with it."""
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    name = row.get("file_name")
    if not isinstance(name, str) or text_problem(name, max_chars=1000):
        raise ValueError(f"file_name {brief(name)} is not a usable file name")
    path = root / name
    if Path(name).is_absolute() or ".." in Path(name).parts or not _inside(root, path):
        raise ValueError(f"file_name {brief(name)} points outside the folder")
    if not path.is_file():
        raise ValueError(f"{brief(name)} does not exist")
    if name in seen:
        raise ValueError(f"{brief(name)} is listed twice")
    seen.add(name)
    caption = row.get("text", row.get("caption"))
    if caption is not None and (problem := text_problem(caption)):
        raise ValueError(f"caption {problem}")
    scene = row.get("scene")
    if scene is not None and not isinstance(scene, dict):
        raise ValueError("scene is not a JSON object")
    labels = {}
    for key, value in row.items():
        if key in RESERVED or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            continue  # lists, numbers with decimals, objects: not a category
        value = str(value)
        for text in (key, value):
            if problem := text_problem(text, max_chars=MAX_LABEL_CHARS):
                raise ValueError(f"label {brief(key)} {problem}")
        labels[key] = value
    return Record(name, path, caption, scene, labels)


def _inside(root: Path, path: Path) -> bool:
    """Whether `path`, links followed, stays under `root`."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False
