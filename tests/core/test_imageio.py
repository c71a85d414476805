"""Images on disk: metadata written where other tools look, read back from any tool."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from genlab.core.errors import MetadataError, UnsupportedImage
from genlab.core.imageio import EXIF_IFD, USER_COMMENT, read_metadata, save_image

PARAMETERS = (
    "a red circle, (bright:1.2)\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 64x64"
)
RECORD = {"version": "genlab 0.1.0", "request": {"prompt": "a <red> & circle"}, "n": [1, 2.5]}


def picture() -> Image.Image:
    pixels = np.arange(32 * 48 * 3, dtype=np.uint8).reshape(32, 48, 3)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".webp"])
@pytest.mark.parametrize("text", [PARAMETERS, "猫 in a café\nSteps: 1, Seed: 2, Size: 8x8"])
def test_round_trip(tmp_path: Path, suffix: str, text: str) -> None:
    path = save_image(picture(), tmp_path / f"out{suffix}", text, RECORD)
    assert path == tmp_path / f"out{suffix}"
    meta = read_metadata(path)
    assert meta.parameters == text
    assert meta.record == RECORD
    assert meta.source == "genlab"
    assert meta.origin == str(path)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_png_uses_text_chunks_like_a1111(tmp_path: Path) -> None:
    latin = save_image(picture(), tmp_path / "a.png", PARAMETERS, RECORD).read_bytes()
    assert b"tEXtparameters\x00a red circle" in latin
    assert b"tEXtgenlab\x00{" in latin
    wide = save_image(
        picture(), tmp_path / "b.png", "猫\nSteps: 1, Seed: 2, Size: 8x8"
    ).read_bytes()
    assert b"iTXtparameters" in wide and b"genlab" not in wide


def test_jpeg_user_comment_is_piexif_style(tmp_path: Path) -> None:
    path = save_image(picture(), tmp_path / "a.jpg", PARAMETERS)
    with Image.open(path) as image:
        raw = image.info["exif"]
        comment = image.getexif().get_ifd(EXIF_IFD)[USER_COMMENT]
    assert raw.startswith(b"Exif\x00\x00MM\x00\x2a")  # big-endian block, as piexif writes
    assert comment == b"UNICODE\x00" + PARAMETERS.encode("utf-16-be")
    assert read_metadata(path).record is None
    assert read_metadata(path).source == "a1111"


def test_pixels_survive_png_and_rgba_jpeg_loses_only_alpha(tmp_path: Path) -> None:
    path = save_image(picture(), tmp_path / "a.png", PARAMETERS)
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image), np.asarray(picture()))
    rgba = picture().convert("RGBA")
    path = save_image(rgba, tmp_path / "a.jpg", PARAMETERS)
    with Image.open(path) as image:
        assert (image.mode, image.size) == ("RGB", (48, 32))


def test_reads_a1111_png_written_with_plain_pnginfo(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("parameters", PARAMETERS)
    picture().save(tmp_path / "a1111.png", pnginfo=info)
    meta = read_metadata(tmp_path / "a1111.png")
    assert (meta.parameters, meta.record, meta.source) == (PARAMETERS, None, "a1111")


def tiff_with_user_comment(comment: bytes, order: str) -> bytes:
    """An EXIF block laid out by hand the way piexif.dump lays it out: header, IFD0
    with a pointer to the Exif IFD, the Exif IFD with UserComment, then the data."""
    end = ">" if order == "MM" else "<"
    header = order.encode() + struct.pack(f"{end}HI", 42, 8)
    ifd0 = struct.pack(f"{end}HHHII", 1, EXIF_IFD, 4, 1, 26) + struct.pack(f"{end}I", 0)
    data_offset = 26 + 2 + 12 + 4
    exif_ifd = struct.pack(f"{end}HHHII", 1, USER_COMMENT, 7, len(comment), data_offset)
    exif_ifd += struct.pack(f"{end}I", 0)
    return b"Exif\x00\x00" + header + ifd0 + exif_ifd + comment


@pytest.mark.parametrize(
    ("order", "encoding"), [("MM", "utf-16-be"), ("II", "utf-16-le"), ("MM", "utf-16-le")]
)
def test_reads_jpeg_with_hand_built_user_comment(tmp_path: Path, order: str, encoding: str) -> None:
    comment = b"UNICODE\x00" + PARAMETERS.encode(encoding)
    path = tmp_path / "a1111.jpg"
    picture().save(path, exif=tiff_with_user_comment(comment, order))
    meta = read_metadata(path)
    assert (meta.parameters, meta.source) == (PARAMETERS, "a1111")


def test_reads_ascii_user_comment_in_webp(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    comment = b"ASCII\x00\x00\x00" + PARAMETERS.encode()
    picture().save(path, exif=tiff_with_user_comment(comment, "II"))
    assert read_metadata(path).parameters == PARAMETERS


COMFY_PROMPT = '{"3": {"class_type": "KSampler"}}'


def test_reads_comfyui_and_invokeai_chunks(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("prompt", COMFY_PROMPT)
    info.add_text("workflow", '{"nodes": []}')
    picture().save(tmp_path / "comfy.png", pnginfo=info)
    meta = read_metadata(tmp_path / "comfy.png")
    assert (meta.source, meta.parameters) == ("comfyui", None)
    assert (meta.comfy_prompt, meta.comfy_workflow) == (COMFY_PROMPT, '{"nodes": []}')

    invoke = PngInfo()
    invoke.add_text("invokeai_metadata", '{"positive_prompt": "a cat"}')
    picture().save(tmp_path / "invoke.png", pnginfo=invoke)
    meta = read_metadata(tmp_path / "invoke.png")
    assert (meta.source, meta.invokeai) == ("invokeai", '{"positive_prompt": "a cat"}')

    picture().save(tmp_path / "plain.png")
    assert read_metadata(tmp_path / "plain.png").source == "none"


def test_reads_comfyui_webp_exif(tmp_path: Path) -> None:
    # ComfyUI's WebP saver puts "prompt:<json>" and "workflow:<json>" in IFD0 tags.
    exif = Image.Exif()
    exif[0x0110] = f"prompt:{COMFY_PROMPT}"
    exif[0x010F] = 'workflow:{"nodes": []}'
    picture().save(tmp_path / "comfy.webp", exif=exif)
    meta = read_metadata(tmp_path / "comfy.webp")
    assert (meta.source, meta.comfy_prompt) == ("comfyui", COMFY_PROMPT)
    assert meta.comfy_workflow == '{"nodes": []}'


def test_reads_an_opened_image() -> None:
    image = picture()
    image.info["parameters"] = PARAMETERS
    assert read_metadata(image).parameters == PARAMETERS


def test_unknown_extension_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedImage, match=r"'\.gif' is not one of \.png, \.jpg, \.jpeg"):
        save_image(picture(), tmp_path / "a.gif", PARAMETERS)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="cannot write mode"):
        save_image(Image.new("CMYK", (8, 8)), target, PARAMETERS)  # PNG has no CMYK
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_bytes() == b"old"


def test_metadata_too_long_for_jpeg_is_refused_cleanly(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"exceeds a JPEG segment.*use \.png or \.webp"):
        save_image(picture(), tmp_path / "a.jpg", "x" * 40_000)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        save_image(picture(), tmp_path / "missing" / "a.png", PARAMETERS)
    assert list(tmp_path.iterdir()) == []


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    picture().save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an image", "is not a readable image"),
        (png_bytes()[:200], "is corrupt or truncated"),
        (None, "does not exist"),
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnsupportedImage) as info:
        read_metadata(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "plain.png"
    picture().save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 48x32 is over twice this
    with pytest.raises(UnsupportedImage, match="decompression bomb"):
        read_metadata(path)


def test_broken_genlab_record_is_an_error(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("genlab", "{not json")
    picture().save(tmp_path / "a.png", pnginfo=info)
    with pytest.raises(MetadataError, match="genlab record is not valid JSON"):
        read_metadata(tmp_path / "a.png")
