"""Hostile image metadata: every crafted file ends in one short error, never a crash.

The files are built the way an attacker would: Pillow's own PngInfo (tEXt, zTXt,
iTXt), hand-made EXIF and chunks, JSON nested past Python's stack.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from PIL.PngImagePlugin import PngInfo

from genlab.core.errors import GenlabError, InvalidRequest, MetadataError, UnsupportedImage
from genlab.core.imageio import EXIF_IFD, MAX_TEXT_CHARS, USER_COMMENT, read_metadata
from genlab.core.metadata import (
    PARAM_PATTERN,
    _param_pairs,
    parse_parameters,
    request_from_metadata,
)
from genlab.core.request import GenerationRequest, LoraSpec

PARAMS = "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64"


def png(path: Path, *, zip_text: bool = False, **texts: str) -> Path:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value, zip=zip_text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def record_png(path: Path, record: object) -> Path:
    return png(path, genlab=json.dumps(record), parameters=f"a cat\n{PARAMS}")


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message
    return message


# -- the genlab record -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100_000, 500])
def test_deeply_nested_record_is_refused_in_one_line(tmp_path: Path, depth: int) -> None:
    # 100,000 levels make json.loads raise RecursionError; 500 parse, but anything that
    # walks the record afterwards (repr, a JSON encoder, a template) would recurse 500 deep.
    nested = "[" * depth + "]" * depth
    path = png(tmp_path / "deep.png", genlab=f'{{"request": {nested}}}', parameters=PARAMS)
    with pytest.raises(MetadataError) as err:
        read_metadata(path)
    assert "nested more than 100 levels" in one_line(err)


def test_record_of_ordinary_depth_still_reads(tmp_path: Path) -> None:
    chain: dict = {"request": {"prompt": "a cat"}}
    for _ in range(40):  # forty tools applied one after another
        chain = {"request": {"prompt": "a cat"}, "source_record": chain}
    meta = read_metadata(record_png(tmp_path / "chain.png", chain))
    assert request_from_metadata(meta).prompt == "a cat"


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        ({"request": {"prompt": "a cat", "loras": 5}}, "loras=5"),
        ({"request": {"prompt": "a cat", "loras": [1]}}, "loras=1"),
        ({"request": {"prompt": "a cat", "loras": ["x:0.5", {"a": 1}]}}, "loras="),
        ({"request": {"prompt": "a cat", "loras": [":0.5"]}}, "loras=':0.5'"),
        ({"request": {"prompt": "a cat", "loras": ["x\u001b[2J"]}}, "control character"),
        ({"request": {"prompt": "a cat", "init_image": 5}}, "init_image=5"),
        ({"request": {"prompt": "a cat", "init_image": "a", "mask": []}}, "mask=[]"),
        ({"request": {"prompt": "a cat", "steps": "20"}}, "steps='20'"),
        ({"request": {"steps": 20}}, "prompt=None is invalid: missing"),
        ({"request": {"prompt": "a cat", 7: 1}}, "unknown fields"),
        ({"request": ["a cat"]}, "no 'request' object"),
        ({"request": {"prompt": "a cat"}, "batch": "x"}, "batch='x' is unreadable"),
        ({"request": {"prompt": "a cat"}, "batch": {"size": "2"}}, "batch="),
        ({"request": {"prompt": "a cat"}, "batch": {"size": 2, "index": 2, "seed": 1}}, "batch"),
        ({"request": {"prompt": "a cat"}, "batch": {"size": 2, "index": 0, "seed": 2**70}}, "seed"),
    ],
)
def test_record_of_the_wrong_shape_is_a_one_line_metadata_error(
    tmp_path: Path, record: dict, needle: str
) -> None:
    meta = read_metadata(record_png(tmp_path / "shape.png", record))
    with pytest.raises(MetadataError) as err:
        request_from_metadata(meta)
    message = one_line(err)
    assert needle in message and "\x1b" not in message


def test_from_dict_refuses_what_is_not_a_request() -> None:
    for data in (["prompt"], None, "a cat"):
        with pytest.raises(InvalidRequest, match="must be a JSON object"):
            GenerationRequest.from_dict(data)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="loras"):
        GenerationRequest.from_dict({"prompt": "a cat", "loras": 5})
    assert GenerationRequest.from_dict({"prompt": "a cat", "loras": None}).loras == ()


def test_lora_spec_parse_refuses_hostile_text() -> None:
    with pytest.raises(InvalidRequest, match="control character"):
        LoraSpec.parse("style\x1b]0;x\x07.safetensors")
    with pytest.raises(InvalidRequest, match="must name a LoRA file"):
        LoraSpec.parse(":0.5")
    with pytest.raises(InvalidRequest, match="at most 4096"):
        LoraSpec.parse("a" * 5000)


def test_record_with_lone_surrogates_reads_and_refuses_to_regenerate(tmp_path: Path) -> None:
    # json.dumps writes "\ud800" as an escape; json.loads turns it back into a lone
    # surrogate, which no encoder (terminal, database, HTTP) can write.
    path = record_png(tmp_path / "s.png", {"request": {"prompt": "x\ud800"}})
    meta = read_metadata(path)
    with pytest.raises(MetadataError, match="lone surrogate"):
        request_from_metadata(meta)


# -- text chunks -------------------------------------------------------------------------


def test_huge_text_chunk_is_refused_in_one_line(tmp_path: Path) -> None:
    path = png(tmp_path / "huge.png", parameters="a" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(MetadataError) as err:
        read_metadata(path)
    assert f"at most {MAX_TEXT_CHARS}" in one_line(err)


def test_ztxt_decompression_bomb_is_refused_in_one_line(tmp_path: Path) -> None:
    # A few KB on disk that would inflate past Pillow's per-chunk limit.
    text = "a" * (PngImagePlugin.MAX_TEXT_CHUNK + 1)
    path = png(tmp_path / "bomb.png", zip_text=True, parameters=text)
    assert path.stat().st_size < 10_000
    with pytest.raises(UnsupportedImage) as err:
        read_metadata(path)
    assert "is refused: its text chunks are too large" in one_line(err)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_itxt_of_invalid_utf8_does_not_crash(tmp_path: Path) -> None:
    source = png(tmp_path / "plain.png")
    data = source.read_bytes()
    itxt = _chunk(b"iTXt", b"parameters\x00\x00\x00\x00\x00a \xff\xfe cat\n" + PARAMS.encode())
    end = data.rindex(b"IEND") - 4
    path = tmp_path / "bad-utf8.png"
    path.write_bytes(data[:end] + itxt + data[end:])
    meta = read_metadata(path)  # Pillow drops an iTXt that is not UTF-8
    assert meta.parameters is None


def test_jpeg_user_comment_with_lone_surrogate_reads_as_replacement(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.endian = ">"
    body = "a ".encode("utf-16-be") + b"\xd8\x00" + f" cat\n{PARAMS}".encode("utf-16-be")
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = b"UNICODE\x00" + body
    path = tmp_path / "s.jpg"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    meta = read_metadata(path)
    assert meta.parameters is not None and "\ufffd" in meta.parameters
    meta.parameters.encode("utf-8")  # encodable: no lone surrogate survived
    assert request_from_metadata(meta).seed == 1


# -- parameters text ---------------------------------------------------------------------


def test_param_line_scan_finds_what_findall_finds() -> None:
    # The linear scan must find exactly the pairs A1111's findall finds.
    rng = random.Random(0)
    alphabet = 'ab :,-/"\\ \t1'
    for _ in range(20_000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert _param_pairs(line) == PARAM_PATTERN.findall(line), line


@pytest.mark.parametrize("unit", ["a", "a ", "ab-", "Steps"])
def test_megabyte_param_line_without_colon_parses(unit: str) -> None:
    # findall retried at every character: quadratic, hours for a megabyte. Done here in
    # one pass, so this finishes at once (no timing is asserted).
    line = unit * (MAX_TEXT_CHARS // len(unit))
    parsed = parse_parameters(f"a cat\n{line}")
    assert parsed.params == {} and parsed.prompt.startswith("a cat\n")


def test_every_hostile_file_is_a_genlab_error(tmp_path: Path) -> None:
    """The web route and the CLI catch GenlabError; nothing else may escape."""
    nested = "[" * 50_000 + "]" * 50_000
    files = [
        png(tmp_path / "1.png", genlab=nested),
        png(tmp_path / "2.png", genlab="{" * 50_000),
        png(tmp_path / "3.png", zip_text=True, genlab="{" * (PngImagePlugin.MAX_TEXT_CHUNK + 9)),
        record_png(tmp_path / "4.png", {"request": {"prompt": "a", "loras": 5}}),
        record_png(tmp_path / "5.png", {"request": {"prompt": "a"}, "batch": {"size": None}}),
    ]
    for path in files:
        with pytest.raises(GenlabError):
            request_from_metadata(read_metadata(path))
