"""The content-addressed image store under the data folder.

A file lives at `images/ab/abcdef….png`, named by the sha256 of its bytes, so the
same bytes are stored once and a name always matches its content. Writing goes
through a temporary file in the same folder tree, fsync, then `os.replace`: the
final name holds the complete file or nothing. Database rows are added only after
that (by the caller, in one transaction), so the gallery never shows a half image;
`sweep` removes what a crash left between the two steps.

Every path that comes from outside (a row, a URL) goes through `resolve`, which
refuses anything that would leave the data folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from genlab.core.errors import GenlabError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

IMAGES = "images"  # gallery images
INPUTS = "inputs"  # uploaded init images and masks that jobs read
THUMBS = "thumbs"  # derived, safe to delete
STORE_DIRS = (IMAGES, INPUTS, THUMBS)
_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg|webp)$")
_INCOMING = ".incoming-"
_READ_BLOCK = 1 << 20


class PathOutsideStore(GenlabError):
    """A path that is absolute, climbs out with `..`, or resolves outside the data folder."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: str  # relative to the data folder, POSIX separators
    width: int
    height: int


class ImageStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        # Held while a file is added or removed and its rows change, so a delete
        # never unlinks a file that a concurrent save of the same bytes relies on.
        self.lock = threading.RLock()
        for name in STORE_DIRS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    # -- paths -------------------------------------------------------------------------

    def resolve(self, relative: str) -> Path:
        """The absolute path of `relative` inside the data folder, or PathOutsideStore.

        Refused: absolute paths, drive letters, backslashes, `..` parts, and anything
        that resolves (through symlinks) outside the data folder."""
        if not relative or "\\" in relative or "\x00" in relative:
            raise PathOutsideStore(f"path {relative!r} is not a plain relative path")
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts or ":" in pure.parts[0]:
            raise PathOutsideStore(f"path {relative!r} must stay inside the data folder")
        target = (self.root / pure).resolve()
        if not target.is_relative_to(self.root):
            raise PathOutsideStore(f"path {relative!r} leads outside the data folder")
        return target

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    # -- writing -----------------------------------------------------------------------

    def put_image(
        self,
        image: Image.Image,
        parameters: str,
        record: Mapping[str, Any] | None = None,
        *,
        area: str = IMAGES,
    ) -> StoredFile:
        """Store `image` as PNG with its A1111 `parameters` and genlab `record`."""
        from genlab.core.imageio import save_image

        return self.put_file(
            lambda path: save_image(image, path, parameters, record),
            image.width,
            image.height,
            area=area,
        )

    def put_bytes(
        self, data: bytes, width: int, height: int, *, suffix: str = ".png", area: str = INPUTS
    ) -> StoredFile:
        """Store bytes already checked to be an image (an upload), named by their hash."""

        def write(path: Path) -> None:
            with open(path, "xb") as handle:
                handle.write(data)

        return self.put_file(write, width, height, suffix=suffix, area=area)

    def put_file(
        self,
        write: Callable[[Path], object],
        width: int,
        height: int,
        *,
        suffix: str = ".png",
        area: str = IMAGES,
    ) -> StoredFile:
        """Store what `write(path)` puts at a temporary path, under its content name."""
        if suffix not in (".png", ".jpg", ".webp") or area not in (IMAGES, INPUTS):
            raise ValueError(f"unexpected suffix {suffix!r} or area {area!r}")
        incoming = self._incoming(area, suffix)
        try:
            write(incoming)
            return self._settle(incoming, area, width, height)
        finally:
            incoming.unlink(missing_ok=True)

    def _incoming(self, area: str, suffix: str) -> Path:
        return self.root / area / f"{_INCOMING}{secrets.token_hex(8)}{suffix}"

    def _settle(self, incoming: Path, area: str, width: int, height: int) -> StoredFile:
        """fsync the finished temporary file, then rename it to its content name."""
        digest = hashlib.sha256()
        with open(incoming, "rb+") as handle:
            for block in iter(lambda: handle.read(_READ_BLOCK), b""):
                digest.update(block)
            os.fsync(handle.fileno())
        sha = digest.hexdigest()
        folder = self.root / area / sha[:2]
        final = folder / f"{sha}{incoming.suffix}"
        with self.lock:
            folder.mkdir(exist_ok=True)
            if final.exists():
                incoming.unlink()  # same bytes already stored: keep the one copy
            else:
                os.replace(incoming, final)
                _fsync_dir(folder)
        return StoredFile(sha, self.relative(final), width, height)

    # -- removing ----------------------------------------------------------------------

    def remove(self, relative: str) -> None:
        """Delete a stored file and its thumbnails (the caller checked no row needs it)."""
        path = self.resolve(relative)
        path.unlink(missing_ok=True)
        sha = path.stem
        for thumb in (self.root / THUMBS / sha[:2]).glob(f"{sha}-*"):
            thumb.unlink(missing_ok=True)

    def sweep(self, referenced: Iterable[str]) -> list[str]:
        """Remove temporary files and stored files no row refers to; returns what went.

        Run at start-up, before the worker starts: a crash between writing a file and
        committing its row leaves such files, and nothing else can be writing then."""
        keep = set(referenced)
        removed = []
        for area in (IMAGES, INPUTS):
            for path in sorted((self.root / area).rglob("*")):
                if not path.is_file() and not path.is_symlink():
                    continue
                relative = path.relative_to(self.root).as_posix()
                if _NAME.match(path.name) and relative in keep:
                    continue
                path.unlink()
                removed.append(relative)
        for path in (self.root / THUMBS).rglob(".*"):
            path.unlink()  # half-written thumbnails
            removed.append(path.relative_to(self.root).as_posix())
        if removed:
            log.info("store sweep removed %d file(s): %s", len(removed), ", ".join(removed[:5]))
        return removed

    def files(self, area: str = IMAGES) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in (self.root / area).rglob("*")
            if p.is_file()
        )

    # -- thumbnails --------------------------------------------------------------------

    def thumbnail(self, relative: str, size: int) -> Path:
        """A cached WebP thumbnail (at most `size` px a side) of a stored image."""
        from PIL import Image

        source = self.resolve(relative)
        sha = source.stem
        folder = self.root / THUMBS / sha[:2]
        target = folder / f"{sha}-{size}.webp"
        if target.exists():
            return target
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(source) as image:
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            temp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
            try:
                image.save(temp, format="WEBP", quality=85)
                os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
        return target


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); not possible on every platform."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
