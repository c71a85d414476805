"""Image files with generation metadata: write them atomically, read what any tool left.

Where the text goes, per format (the places other tools look):
- PNG: a `parameters` text chunk (A1111's) and a `genlab` chunk holding the JSON record.
  tEXt is Latin-1 only, so non-Latin-1 text goes into iTXt (UTF-8), as A1111 does.
- JPEG and WebP: EXIF UserComment (tag 0x9286) as `b"UNICODE\\0"` + UTF-16 big-endian
  in a big-endian ("MM") EXIF block -- byte for byte what A1111 writes through piexif,
  so its readers and exiftool (which follows the EXIF byte order) agree. The genlab
  record goes into XMP as the property `genlab:record`: EXIF has no second free-text
  field that viewers leave alone, and XMP is where per-application data belongs.

Reading accepts UTF-16 of either byte order, since some writers use little-endian.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from genlab.core.errors import MetadataError, UnsupportedImage
from genlab.core.files import atomic_file

if TYPE_CHECKING:
    from PIL import Image

SAVE_FORMATS: dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# What genlab writes (save_result's formats), and what it reads as an image folder.
IMAGE_FORMATS = ("png", "jpg", "webp")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
JPEG_QUALITY = 95
WEBP_QUALITY = 95
# A JPEG APP1 segment holds at most 65533 bytes after its length field.
_JPEG_SEGMENT_MAX = 65533
_XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
_IFD0_MAKE, _IFD0_MODEL = 0x010F, 0x0110  # where ComfyUI puts its JSON in WebP files

# EXIF 2.3 table 9: the 8-byte character-code prefix of a UserComment.
_UNICODE = b"UNICODE\x00"
_ASCII = b"ASCII\x00\x00\x00"
_JIS = b"JIS\x00\x00\x00\x00\x00"
_UNDEFINED = b"\x00" * 8

GENLAB_XMP_NS = "urn:genlab:metadata:1.0#"
_XMP_RECORD = f"{{{GENLAB_XMP_NS}}}record"

SOURCES = ("genlab", "a1111", "comfyui", "invokeai", "none")

# Reading limits. Every text genlab keeps from a file is at most Pillow's own cap on
# one inflated zTXt/iTXt chunk (PngImagePlugin.MAX_TEXT_CHUNK, 1 MiB): A1111 text runs
# to a few KB and ComfyUI's workflows, the largest seen, to a few hundred KB. An
# uncompressed tEXt chunk has no such cap in Pillow, so the length is checked here.
MAX_TEXT_CHARS = 1024 * 1024
# A record nests once per tool applied to an image (source_record), plus a few levels
# of its own; a hundred is far beyond real chains and far below Python's stack.
MAX_RECORD_DEPTH = 100


@dataclass(frozen=True)
class ImageMetadata:
    """Generation metadata found in an image, and which tool wrote it.

    `source` is the most useful description present, in this order: "genlab" (a genlab
    record), "a1111" (A1111 `parameters` text, also written by Forge, Fooocus and
    others), "comfyui" (prompt/workflow graphs), "invokeai", "none". The raw JSON of
    other tools is kept as text for callers that understand it.
    """

    parameters: str | None = None
    record: dict[str, Any] | None = None
    source: str = "none"
    comfy_prompt: str | None = None
    comfy_workflow: str | None = None
    invokeai: str | None = None
    origin: str = "image"  # the file name, for messages


# -- writing ---------------------------------------------------------------------------


def save_image(
    image: Image.Image, path: Path, parameters: str, record: Mapping[str, Any] | None = None
) -> Path:
    """Write `image` with A1111 `parameters` (and a genlab `record`) to `path`.

    The file is written under a temporary name in the same folder and renamed into
    place, so `path` is either the complete new file or untouched -- never partial.
    """
    path = Path(path)
    image_format = SAVE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise UnsupportedImage(
            f"cannot save {path.name}: extension {path.suffix or '(none)'!r} is not one of "
            f"{', '.join(SAVE_FORMATS)}"
        )
    record_json = None if record is None else json.dumps(record, ensure_ascii=False)
    if image_format == "PNG":
        options = _png_options(parameters, record_json)
    else:
        options = _exif_options(image_format, parameters, record_json, path)
        if image_format == "JPEG" and image.mode not in ("L", "RGB", "CMYK"):
            # JPEG has no alpha or palette; A1111 drops them the same way.
            image = image.convert("RGB")

    with atomic_file(path) as handle:
        image.save(handle, format=image_format, **options)
    return path


def _png_options(parameters: str, record_json: str | None) -> dict[str, Any]:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    # add_text writes tEXt when the text is Latin-1 and iTXt (UTF-8) otherwise.
    info.add_text("parameters", parameters)
    if record_json is not None:
        info.add_text("genlab", record_json)
    return {"pnginfo": info}


def _exif_options(
    image_format: str, parameters: str, record_json: str | None, path: Path
) -> dict[str, Any]:
    from PIL import Image

    exif = Image.Exif()
    exif.endian = ">"  # big-endian, like piexif, to match the UTF-16BE text below
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = encode_user_comment(parameters)
    exif_bytes = exif.tobytes()
    options: dict[str, Any] = {"exif": exif_bytes}
    if record_json is not None:
        options["xmp"] = _xmp_packet(record_json)
    if image_format == "JPEG":
        options["quality"] = JPEG_QUALITY
        xmp_size = len(options.get("xmp", b"")) + len(_XMP_JPEG_HEADER)
        if len(exif_bytes) > _JPEG_SEGMENT_MAX or xmp_size > _JPEG_SEGMENT_MAX:
            raise MetadataError(
                f"cannot save {path.name}: its metadata ({max(len(exif_bytes), xmp_size)} "
                f"bytes) exceeds a JPEG segment ({_JPEG_SEGMENT_MAX} bytes); use .png or .webp"
            )
    else:
        options["quality"] = WEBP_QUALITY
    return options


def encode_user_comment(text: str) -> bytes:
    """EXIF UserComment bytes as A1111 writes them: 'UNICODE' prefix + UTF-16BE."""
    return _UNICODE + text.encode("utf-16-be")


def _xmp_packet(record_json: str) -> bytes:
    # escape() covers &, <, >: enough for element text.
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about="" xmlns:genlab="{GENLAB_XMP_NS}">\n'
        f"   <genlab:record>{escape(record_json)}</genlab:record>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


# -- reading ---------------------------------------------------------------------------


def read_metadata(source: Path | str | Image.Image) -> ImageMetadata:
    """The generation metadata of an image file (or an opened PIL image)."""
    from PIL import Image

    if isinstance(source, Image.Image):
        origin = str(getattr(source, "filename", "") or "image")
        _load(source, origin)
        return _metadata_of(source, origin)
    origin = str(source)
    try:
        # Image.MAX_IMAGE_PIXELS stays on: a decompression bomb is refused, not read.
        with Image.open(source) as image:
            _load(image, origin)
            return _metadata_of(image, origin)
    except FileNotFoundError:
        raise UnsupportedImage(f"{origin} does not exist") from None
    except Image.DecompressionBombError as err:
        raise UnsupportedImage(f"{origin} is refused: {err}") from None
    except Image.UnidentifiedImageError:
        raise UnsupportedImage(
            f"{origin} is not a readable image (PNG, JPEG or WebP expected)"
        ) from None
    except OSError as err:
        raise UnsupportedImage(f"{origin} cannot be read: {_reason(err)}") from None
    except (SyntaxError, ValueError, EOFError, zlib.error) as err:
        # Pillow parses the chunks before the pixel data while opening: a broken chunk,
        # or a zTXt that inflates past its limit (a decompression bomb), ends here.
        raise UnsupportedImage(_refusal(origin, err)) from None


def _load(image: Image.Image, origin: str) -> None:
    """Decode fully: PNG text chunks after the pixel data only appear once loaded,
    and a truncated or corrupt file shows itself here rather than later."""
    from PIL import Image

    try:
        image.load()
    except Image.DecompressionBombError as err:
        raise UnsupportedImage(f"{origin} is refused: {err}") from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as err:
        raise UnsupportedImage(_refusal(origin, err)) from None


def _refusal(origin: str, err: BaseException) -> str:
    reason = _reason(err)
    if "MAX_TEXT" in reason:  # Pillow's text limits: a zTXt/iTXt bomb or too much text
        return f"{origin} is refused: its text chunks are too large ({reason})"
    return f"{origin} is corrupt or truncated: {reason}"


def _reason(err: BaseException) -> str:
    # Pillow's messages are one line, but a corrupt file may put anything in them.
    return " ".join(str(err).split()) or type(err).__name__


def _metadata_of(image: Image.Image, origin: str) -> ImageMetadata:
    info = image.info
    parameters = _text(info, "parameters", origin)
    record_text = _text(info, "genlab", origin)
    comfy_prompt = _text(info, "prompt", origin)
    comfy_workflow = _text(info, "workflow", origin)
    invokeai = _text(info, "invokeai_metadata", origin)

    exif = _exif(image, origin)
    if exif is not None:
        comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
        if parameters is None and isinstance(comment, bytes):
            parameters = decode_user_comment(comment, exif.endian) or None
            _check_length(len(parameters or ""), "EXIF UserComment", origin)
        for tag in (_IFD0_MAKE, _IFD0_MODEL):
            value = exif.get(tag)
            if isinstance(value, str):
                _check_length(len(value), "EXIF Make/Model", origin)
            if isinstance(value, str) and value.startswith("prompt:"):
                comfy_prompt = comfy_prompt or value[len("prompt:") :]
            elif isinstance(value, str) and value.startswith("workflow:"):
                comfy_workflow = comfy_workflow or value[len("workflow:") :]
    if record_text is None and "xmp" in info:
        record_text = _record_from_xmp(info["xmp"], origin)

    record = _parse_record(record_text, origin) if record_text is not None else None
    if record is not None:
        source = "genlab"
    elif parameters is not None:
        source = "a1111"
    elif comfy_prompt is not None or comfy_workflow is not None:
        source = "comfyui"
    elif invokeai is not None:
        source = "invokeai"
    else:
        source = "none"
    return ImageMetadata(
        parameters=parameters,
        record=record,
        source=source,
        comfy_prompt=comfy_prompt,
        comfy_workflow=comfy_workflow,
        invokeai=invokeai,
        origin=origin,
    )


def _text(info: Mapping[str, Any], key: str, origin: str) -> str | None:
    value = info.get(key)
    if isinstance(value, bytes):
        _check_length(len(value), key, origin)
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str) or not value:
        return None
    _check_length(len(value), key, origin)
    return str(value)  # Pillow's iTXt is a str subclass; keep plain text


def _check_length(length: int, what: str, origin: str) -> None:
    if length > MAX_TEXT_CHARS:
        raise MetadataError(
            f"{origin}: its {what!r} text is {length} characters; genlab reads at most "
            f"{MAX_TEXT_CHARS} (generation parameters are far shorter)"
        )


def _exif(image: Image.Image, origin: str) -> Image.Exif | None:
    if "exif" not in image.info:
        return None
    try:
        return image.getexif()
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UnsupportedImage(f"{origin} has a corrupt EXIF block: {err}") from None


def decode_user_comment(data: bytes, byte_order: str | None = None) -> str:
    """Text of an EXIF UserComment. `byte_order` ('<' or '>') is the EXIF block's,
    used for UTF-16 only when the text itself does not show its byte order."""
    prefix, body = data[:8], data[8:]
    if prefix == _UNICODE:
        text = _decode_utf16(body, byte_order)
    elif prefix == _JIS:
        text = body.decode("shift_jis", errors="replace")
    elif prefix in (_ASCII, _UNDEFINED):
        # "ASCII" is often really UTF-8; undecodable bytes show as U+FFFD, never vanish.
        text = body.decode("utf-8", errors="replace")
    else:
        text = data.decode("utf-8", errors="replace")  # some writers omit the prefix
    return text.rstrip("\x00 ")


def _decode_utf16(body: bytes, byte_order: str | None) -> str:
    if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return body.decode("utf-16", errors="replace")
    body = body[: len(body) // 2 * 2]
    # Prompts are mostly ASCII: the zero high bytes sit first in big-endian pairs.
    high_first = body[0::2].count(0)
    high_last = body[1::2].count(0)
    if high_first == high_last:  # no ASCII to tell by: trust the EXIF block's order
        return body.decode("utf-16-le" if byte_order == "<" else "utf-16-be", errors="replace")
    return body.decode("utf-16-be" if high_first > high_last else "utf-16-le", errors="replace")


def _record_from_xmp(xmp: object, origin: str) -> str | None:
    data = xmp.encode("utf-8", errors="replace") if isinstance(xmp, str) else xmp
    if not isinstance(data, bytes) or GENLAB_XMP_NS.encode() not in data:
        return None  # someone else's XMP; nothing of ours to read
    _check_length(len(data), "XMP", origin)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise MetadataError(
            f"{origin}: the XMP holding the genlab record is broken: {err}"
        ) from None
    element = root.find(f".//{_XMP_RECORD}")
    return element.text if element is not None and element.text else None


def _parse_record(text: str, origin: str) -> dict[str, Any]:
    """The genlab record as a JSON object, its length and nesting bounded (anything that
    reads it afterwards, from repr to a JSON encoder, may recurse once per level)."""
    _check_length(len(text), "genlab", origin)
    try:
        record = json.loads(text)
        too_deep = _depth(record) > MAX_RECORD_DEPTH
    except json.JSONDecodeError as err:
        raise MetadataError(f"{origin}: the genlab record is not valid JSON ({err})") from None
    except RecursionError:  # nested past Python's own stack while decoding
        too_deep = True
    if too_deep:
        raise MetadataError(
            f"{origin}: the genlab record is unreadable: JSON nested more than "
            f"{MAX_RECORD_DEPTH} levels deep"
        )
    if not isinstance(record, dict):
        raise MetadataError(f"{origin}: the genlab record is not a JSON object")
    return record


def _depth(value: object) -> int:
    """How deeply JSON lists and objects nest in `value`, found without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack and deepest <= MAX_RECORD_DEPTH:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest
