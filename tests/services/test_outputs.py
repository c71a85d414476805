from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from genlab import GenerationRequest
from genlab.core.errors import UnsupportedImage
from genlab.core.imageio import read_metadata
from genlab.core.metadata import parse_parameters, request_from_metadata
from genlab.services.generation import generate, save_result
from genlab.services.outputs import output_path, save_tool_image


def test_tool_output_keeps_source_parameters_and_adds_its_own(tmp_path: Path) -> None:
    result = generate(GenerationRequest("a red circle", seed=4))
    (source,) = save_result(result, tmp_path).paths
    target = output_path(tmp_path / "up", source, "upscale")
    save_tool_image(
        Image.new("RGB", (16, 16)), target, tool="upscale", params={"scale": 2}, source=source
    )
    meta = read_metadata(target)
    parsed = parse_parameters(meta.parameters)
    assert parsed.prompt == "a red circle"
    assert parsed.params["Seed"] == "4"
    assert parsed.params["Postprocess scale"] == "2"
    assert list(parsed.params)[-1] == "Version"
    assert request_from_metadata(meta).seed == 4  # `generate --from` still works
    # The source is named by file name and content hash, never by its full path.
    assert meta.record["source"] == {
        "name": source.name,
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
    }
    assert str(tmp_path) not in json.dumps(meta.record)


def test_output_path_never_overwrites_and_checks_suffix(tmp_path: Path) -> None:
    source = Path("photo.jpg")
    first = output_path(tmp_path, source, "style")
    first.write_bytes(b"x")
    assert output_path(tmp_path, source, "style").name == "photo-style-2.png"
    assert output_path(tmp_path / "x.webp", source, "style") == tmp_path / "x.webp"
    with pytest.raises(UnsupportedImage, match=r"suffix '\.gif'"):
        output_path(tmp_path / "x.gif", source, "style")
