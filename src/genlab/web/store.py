"""The content-addressed image store under the data folder.

A file lives at `images/ab/abcdef….png`, named by the sha256 of its bytes, so the
same bytes are stored once and a name always matches its content. Writing goes
through a temporary file in the same folder tree, fsync, then `os.replace`: the
final name holds the complete file or nothing. Database rows are added only after
that (by the caller, in one transaction), so the gallery never shows a half image;
`sweep` removes what a crash left between the two steps.

Every path that comes from outside (a row, a URL) goes through `resolve`, which
refuses anything that is not a file of the store's areas (images/, inputs/, thumbs/)
once symlinks are followed: the data folder also holds the database and the work
folders, which no URL may reach.
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
from genlab.core.files import atomic_file
from genlab.core.text import brief

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

IMAGES = "images"  # gallery images
INPUTS = "inputs"  # uploaded init images and masks that jobs read
THUMBS = "thumbs"  # derived, safe to delete
STORE_DIRS = (IMAGES, INPUTS, THUMBS)
_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg|webp)$")
# What the store itself names: images/ab/ab….png (by content) and thumbs/ab/ab…-256.webp.
_STORED = re.compile(r"^(images|inputs)/([0-9a-f]{2})/(\2[0-9a-f]{62})\.(png|jpg|webp)$")
_THUMB = re.compile(r"^thumbs/([0-9a-f]{2})/(\1[0-9a-f]{62})-\d{1,4}\.webp$")
_INCOMING = ".incoming-"
_READ_BLOCK = 1 << 20
MAX_PATH_CHARS = 255  # the column's width; the store's own names are under 100
_VERIFIED_KEPT = 100_000  # about 20 MB of memory at most


class PathOutsideStore(GenlabError):
    """A path that is absolute, climbs out with `..`, or resolves outside the store's areas."""


class UndecodableFile(GenlabError):
    """A stored file that is no image any more (damaged on disk, or replaced)."""


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
        # Where each area really is (one may be a symlink to another disk).
        self._areas = {name: (self.root / name).resolve() for name in STORE_DIRS}
        # Files whose bytes were found to match their name, by (size, mtime, inode):
        # checked once, not on every request.
        self._verified: dict[str, tuple[int, int, int]] = {}

    # -- paths -------------------------------------------------------------------------

    def resolve(self, relative: str) -> Path:
        """The absolute path of `relative` inside one of the store's areas, or
        PathOutsideStore.

        Refused: over-long paths, absolute paths, drive letters, backslashes, `..`
        parts, paths outside images/, inputs/ and thumbs/, symlink loops, and anything
        that resolves (through symlinks) outside the area it names: the database and
        the work folders share the data folder, and no path may reach them."""
        shown = brief(relative, 80)
        if not isinstance(relative, str) or not 0 < len(relative) <= MAX_PATH_CHARS:
            raise PathOutsideStore(f"path {shown} is not a stored file's path")
        if "\\" in relative or "\x00" in relative:
            raise PathOutsideStore(f"path {shown} is not a plain relative path")
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts or ":" in pure.parts[0]:
            raise PathOutsideStore(f"path {shown} must stay inside the data folder")
        if pure.parts[0] not in STORE_DIRS:
            raise PathOutsideStore(f"path {shown} is not in {', '.join(STORE_DIRS)}")
        area = self._areas[pure.parts[0]]
        try:
            target = (self.root / pure).resolve()
        except (OSError, RuntimeError):  # a symlink loop, a name too long for the system
            raise PathOutsideStore(f"path {shown} cannot be resolved") from None
        if not target.is_relative_to(area):
            raise PathOutsideStore(f"path {shown} leads outside {pure.parts[0]}/")
        return target

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def served(self, relative: str) -> Path:
        """A file to serve under its store path with "immutable" caching: a regular file
        named as the store names files (a content hash, or a thumbnail of one) whose
        bytes, for images and inputs, still hash to that name. PathOutsideStore (a 404)
        for anything else; UndecodableFile for a file whose bytes changed on disk."""
        target = self.resolve(relative)
        stored = _STORED.match(relative)
        if (stored is None and _THUMB.match(relative) is None) or not target.is_file():
            raise PathOutsideStore(f"no stored file {brief(relative, 80)}")
        if stored is not None:
            self._verify(relative, target, stored.group(3))
        return target

    def _verify(self, relative: str, target: Path, sha: str) -> None:
        info = target.stat()
        key = (info.st_size, info.st_mtime_ns, info.st_ino)
        if self._verified.get(relative) == key:
            return
        digest = hashlib.sha256()
        with open(target, "rb") as handle:
            for block in iter(lambda: handle.read(_READ_BLOCK), b""):
                digest.update(block)
        if digest.hexdigest() != sha:
            raise UndecodableFile(
                f"stored file {relative} is damaged: its bytes no longer match its name"
            )
        if len(self._verified) >= _VERIFIED_KEPT:
            self._verified.clear()
        self._verified[relative] = key

    # -- writing -----------------------------------------------------------------------

    def put_image(
        self,
        image: Image.Image,
        parameters: str,
        record: Mapping[str, Any] | None = None,
        *,
        area: str = IMAGES,
        suffix: str = ".png",
    ) -> StoredFile:
        """Store `image` as PNG (or .jpg, .webp) with its A1111 `parameters` and genlab
        `record` (in EXIF and XMP for JPEG and WebP)."""
        from genlab.core.imageio import save_image

        return self.put_file(
            lambda path: save_image(image, path, parameters, record),
            image.width,
            image.height,
            area=area,
            suffix=suffix,
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
        try:
            with Image.open(source) as image:
                image.thumbnail((size, size), Image.Resampling.LANCZOS)  # decodes it
                small = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
            # Truncated, overwritten or not an image at all: PIL has no one error for it.
            raise UndecodableFile(f"stored file {relative} cannot be decoded") from None
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(target) as handle:
            small.save(handle, format="WEBP", quality=85)
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
