"""Captioned image folders for training, checked before any training starts.

Two layouts are read, the ones users already have:
- a Hugging Face "imagefolder": `metadata.jsonl` rows with `file_name` and `text`
  (`genlab world dataset` writes this; `caption` is accepted for `text`);
- images with a caption file beside each (`cat.png` + `cat.txt`), the layout
  A1111/kohya training folders use.

Every problem in the folder is collected first and reported in one line (the first
few and how many), so a user fixes their data once instead of one error per run.
Images are resized (shorter side) and centre-cropped to the training resolution and
kept in memory as uint8.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.core.errors import GenlabError, UnsupportedImage
from genlab.core.images import open_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_SHOWN_PROBLEMS = 3


class DataError(GenlabError):
    """A training folder that cannot be used as it is."""


@dataclass(frozen=True)
class CaptionedImages:
    images: torch.Tensor  # uint8, N × 3 × H × W
    captions: list[str]
    folder: Path

    def __len__(self) -> int:
        return len(self.captions)


def load_captioned_images(
    folder: Path, resolution: int, *, limit: int | None = None
) -> CaptionedImages:
    """Read, check and resize every captioned image of `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"training data {folder} is not a folder")
    problems: list[str] = []
    if (folder / "metadata.jsonl").is_file():
        rows = _metadata_rows(folder, problems)
    else:
        rows = _sidecar_rows(folder, problems)
        if not rows and not problems:
            raise DataError(
                f"{folder} has no metadata.jsonl and no image with a .txt caption beside it"
            )
    if limit is not None:
        rows = rows[:limit]
    images, captions = [], []
    for where, path, text in rows:
        try:
            image = open_image(path, keep_alpha=False)
        except UnsupportedImage as err:
            problems.append(f"{where}: {err}")
            continue
        images.append(_square(image, resolution))
        captions.append(text)
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        hidden = len(problems) - _SHOWN_PROBLEMS
        more = f" (and {hidden} more)" if hidden > 0 else ""
        raise DataError(f"{len(problems)} problem(s) in {folder}: {shown}{more}")
    if not images:
        raise DataError(f"{folder} has no captioned images")
    return CaptionedImages(torch.from_numpy(np.stack(images)), captions, folder)


def _metadata_rows(folder: Path, problems: list[str]) -> list[tuple[str, Path, str]]:
    rows = []
    lines = (folder / "metadata.jsonl").read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(lines.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"metadata.jsonl line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"{where} is not JSON")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("file_name"), str):
            problems.append(f"{where} has no file_name")
            continue
        text = row.get("text", row.get("caption"))
        problem = _caption_problem(text)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        rows.append((where, folder / row["file_name"], text.strip()))
    return rows


def _sidecar_rows(folder: Path, problems: list[str]) -> list[tuple[str, Path, str]]:
    rows = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        caption_file = path.with_suffix(".txt")
        if not caption_file.is_file():
            problems.append(f"{path.name} has no caption file {caption_file.name}")
            continue
        try:
            text = caption_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(f"{caption_file.name} is not UTF-8 text")
            continue
        problem = _caption_problem(text)
        if problem:
            problems.append(f"{caption_file.name}: {problem}")
            continue
        rows.append((path.name, path, text.strip()))
    return rows


def _caption_problem(text: object) -> str | None:
    if not isinstance(text, str):
        return f"caption must be text, got {type(text).__name__}"
    if not text.strip():
        return "caption is empty"
    return None


def _square(image, resolution: int) -> np.ndarray:
    """Resize the shorter side to `resolution`, centre-crop, as C × H × W uint8."""
    from PIL import Image

    width, height = image.size
    scale = resolution / min(width, height)
    if (width, height) != (resolution, resolution):
        size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        left = (image.width - resolution) // 2
        top = (image.height - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()
