"""Checking uploaded images before anything trusts them.

Order matters: the byte size first (cheap), then the pixel count read from the header
(Pillow parses it without decoding), and only then a full decode, which is what
proves the bytes are an image. A 100k x 100k PNG of a few hundred bytes is refused
at the second step and never allocates its 10 gigapixels. Pillow's own global
decompression limit stays as it is; the per-request limit here is stricter.

Reading an image's metadata (png-info) stops after the second step: the text is in
chunks and segments that Pillow reads without touching the pixels, so a 4096x4096
upload costs its bytes, not the 64 MB of its decoded pixels.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genlab.core.errors import GenlabError

if TYPE_CHECKING:
    from PIL import Image

FORMATS = ("PNG", "JPEG", "WEBP")
# PNG chunks that hold metadata; Pillow parses each (zTXt, iTXt: inflated at most 1 MB).
_PNG_METADATA_CHUNKS = (b"tEXt", b"zTXt", b"iTXt", b"eXIf")
# All the text of one image's metadata. ComfyUI's workflows, the largest seen, run to
# a few hundred KB; Pillow alone would inflate up to 64 MB of text per image.
MAX_METADATA_TEXT = 8 * 1024 * 1024


class UploadRejected(GenlabError):
    """An upload that is too big, not an image, or not a format genlab reads."""

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class CheckedUpload:
    image: Image.Image  # fully decoded
    data: bytes  # the bytes as uploaded (metadata intact)
    format: str


def check_image(
    data: bytes, *, max_bytes: int, max_pixels: int, what: str = "upload"
) -> CheckedUpload:
    from PIL import Image

    image = _open(data, max_bytes=max_bytes, max_pixels=max_pixels, what=what)
    try:
        image.load()
    except Image.DecompressionBombError as err:
        raise UploadRejected(f"{what} is refused: {err}", too_large=True) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UploadRejected(f"{what} is corrupt or truncated: {err}") from None
    return CheckedUpload(image, data, image.format)


def metadata_image(
    data: bytes, *, max_bytes: int, max_pixels: int, what: str = "upload"
) -> Image.Image:
    """The metadata of an uploaded image, without decoding its pixels: a 1x1 image whose
    `info` is the upload's (text chunks, EXIF, XMP), for `read_metadata`. The upload
    passes the same checks as `check_image` up to the decode."""
    from PIL import Image

    image = _open(data, max_bytes=max_bytes, max_pixels=max_pixels, what=what)
    info = dict(image.info)
    if image.format == "PNG":
        # Text chunks after the pixel data only reach `info` once Pillow has decoded
        # the pixels; read them here instead.
        info.update(_png_metadata(data, what))
    stand_in = Image.new("L", (1, 1))
    stand_in.info = info
    return stand_in


def _open(data: bytes, *, max_bytes: int, max_pixels: int, what: str) -> Image.Image:
    """Steps 1 and 2: the byte size, then format and pixel count from the header."""
    from PIL import Image

    if len(data) > max_bytes:
        raise UploadRejected(
            f"{what} is {len(data)} bytes; at most {max_bytes} bytes are accepted", too_large=True
        )
    if not data:
        raise UploadRejected(f"{what} is empty; a PNG, JPEG or WebP image is expected")
    try:
        with warnings.catch_warnings():
            # The pixel limit below is this server's own and stricter; Pillow's
            # warning zone would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        # Pillow refuses headers over twice its global limit while opening.
        raise UploadRejected(f"{what} is refused: {err}", too_large=True) from None
    except Image.UnidentifiedImageError:
        raise UploadRejected(f"{what} is not an image (PNG, JPEG or WebP expected)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UploadRejected(f"{what} is not a readable image: {err}") from None
    if image.format not in FORMATS:
        raise UploadRejected(f"{what} is {image.format}; accepted: {', '.join(FORMATS)}")
    width, height = image.size
    if width * height > max_pixels:
        raise UploadRejected(
            f"{what} is {width}x{height} pixels; at most {max_pixels} pixels are accepted",
            too_large=True,
        )
    return image


def _png_metadata(data: bytes, what: str) -> dict[str, Any]:
    """The metadata chunks of a PNG wherever they are, read by Pillow's own chunk
    parsers; every other chunk, the pixel data above all, is skipped unread."""
    from PIL import PngImagePlugin

    stream = io.BytesIO(data)
    stream.seek(8)  # the signature, checked when the image was opened
    png = PngImagePlugin.PngStream(stream)
    while True:
        try:
            kind, position, length = png.read()
        except (struct.error, SyntaxError):
            break  # the data ends, or garbage follows it: as Pillow stops reading there
        if kind == b"IEND":
            break
        if kind in _PNG_METADATA_CHUNKS:
            try:
                png.call(kind, position, length)
            except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as err:
                raise UploadRejected(f"{what} has a corrupt {kind.decode()} chunk: {err}") from None
            if png.text_memory > MAX_METADATA_TEXT:
                raise UploadRejected(
                    f"{what} holds over {MAX_METADATA_TEXT} bytes of metadata text",
                    too_large=True,
                )
        stream.seek(position + length + 4)  # past the chunk's data and its CRC
    return png.im_info


def decode_base64(text: str, *, max_bytes: int, what: str = "image") -> bytes:
    """Bytes of a base64 string or a `data:image/...;base64,` URI (what A1111 accepts)."""
    text = text.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise UploadRejected(f"{what} is a data URI without ;base64")
    text = "".join(text.split())  # some clients wrap base64 lines
    # Refuse before decoding: base64 is 4 characters for every 3 bytes.
    if len(text) > (max_bytes + 2) // 3 * 4 + 4:
        raise UploadRejected(
            f"{what} is over {max_bytes} bytes once decoded; at most {max_bytes} are accepted",
            too_large=True,
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UploadRejected(f"{what} is not valid base64") from None
