"""A1111 `parameters` text: writing, reading, and turning it back into a request."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from genlab.core.errors import MetadataError
from genlab.core.imageio import ImageMetadata
from genlab.core.metadata import (
    format_parameters,
    genlab_record,
    infotext,
    parse_parameters,
    request_from_metadata,
)
from genlab.core.request import GenerationRequest
from genlab.core.result import GenerationResult

# -- format_parameters -----------------------------------------------------------------


def test_format_matches_a1111_layout_and_drops_none() -> None:
    params = {
        "Steps": 20,
        "Sampler": "Euler a",
        "CFG scale": 7.0,
        "Seed": 965400086,
        "Face restoration": None,
        "Size": "512x512",
        "Model hash": "45dee52b",
    }
    assert format_parameters("a cat", "", params) == (
        "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, "
        "Model hash: 45dee52b"
    )


def test_format_writes_negative_line_and_quotes_separators() -> None:
    params = {
        "Steps": 30,
        "CFG scale": 6.5,
        "Denoising strength": 0.75,
        "Hires upscale": 2.0,
        "Lora hashes": "a: 1234, b: 5678",
        "Note": 'say "hi"\nthen go',
        "Model": "猫:v2",
    }
    assert format_parameters("a cat\non a mat", "blurry, lowres", params) == (
        "a cat\non a mat\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 30, CFG scale: 6.5, Denoising strength: 0.75, Hires upscale: 2, "
        'Lora hashes: "a: 1234, b: 5678", Note: "say \\"hi\\"\\nthen go", Model: "猫:v2"'
    )


def test_format_without_params_or_prompt() -> None:
    assert format_parameters("a cat", "", {}) == "a cat"
    assert format_parameters("", "ugly", {"Steps": 1, "Seed": 2, "Size": "8x8"}) == (
        "Negative prompt: ugly\nSteps: 1, Seed: 2, Size: 8x8"
    )


# -- parse_parameters ------------------------------------------------------------------

REFERENCE_LINE = (
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, "
    "Model hash: 45dee52b"
)

REAL_WORLD = """masterpiece, best quality, 1girl,
(red hair:1.2), <lora:add_detail:0.8>
Negative prompt: lowres, bad anatomy,
worst quality
Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567890, Size: 512x768, \
Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, \
Hires upscale: 2, Hires steps: 15, Hires upscaler: R-ESRGAN 4x+ Anime6B, \
Lora hashes: "a: 1234, b: 5678", Version: v1.6.0"""


def test_reference_line_parses() -> None:
    parsed = parse_parameters(f"a cat\n{REFERENCE_LINE}")
    assert parsed.prompt == "a cat"
    assert parsed.negative_prompt == ""
    assert parsed.params == {
        "Steps": "20",
        "Sampler": "Euler a",
        "CFG scale": "7",
        "Seed": "965400086",
        "Size": "512x512",
        "Model hash": "45dee52b",
    }
    assert parse_parameters(REFERENCE_LINE).prompt == ""


def test_real_world_text_with_multiline_prompts_and_quoted_values() -> None:
    parsed = parse_parameters(REAL_WORLD)
    assert (
        parsed.prompt == "masterpiece, best quality, 1girl,\n(red hair:1.2), <lora:add_detail:0.8>"
    )
    assert parsed.negative_prompt == "lowres, bad anatomy,\nworst quality"
    assert parsed.params["Lora hashes"] == "a: 1234, b: 5678"
    assert parsed.params["Hires upscale"] == "2"
    assert parsed.params["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"
    assert parsed.params["Version"] == "v1.6.0"
    assert len(parsed.params) == 14


def test_a_last_line_with_fewer_than_three_pairs_is_prompt() -> None:
    parsed = parse_parameters("portrait\nstyle: oil, mood: calm")
    assert parsed.prompt == "portrait\nstyle: oil, mood: calm"
    assert parsed.params == {}


def test_format_then_parse_round_trips_awkward_values() -> None:
    params = {"Steps": "5", "Seed": "1", "Size": "8x8", "Odd": 'a, "b"\\n: c\nd', "Quoted": '"x"'}
    text = format_parameters("p", "n\nm", params)
    parsed = parse_parameters(text)
    assert (parsed.prompt, parsed.negative_prompt, parsed.params) == ("p", "n\nm", params)


# -- infotext and the genlab record ----------------------------------------------------


def make_result(**changes: object) -> GenerationResult:
    request = GenerationRequest(
        "a __colour__ circle on a blue background",
        negative_prompt="blurry",
        width=64,
        height=64,
        steps=20,
        guidance_scale=7.0,
        sampler="DPM++ 2M",
        schedule="Karras",
        seed=42,
        batch_size=2,
        model="builtin-shapes",
    )
    fields: dict = {
        "images": (Image.new("RGB", (64, 64)), Image.new("RGB", (64, 64))),
        "seeds": (42, 43),
        "prompts": ("a red circle on a blue background", "a green circle on a blue background"),
        "negative_prompts": ("blurry", "blurry"),
        "request": request,
        "engine": "builtin",
        "model": "builtin-shapes",
        "model_hash": "1a2b3c4d5e",
        "timings": {"generate_s": 1.5},
    }
    fields.update(changes)
    return GenerationResult(**fields)


def test_infotext_is_the_design_example() -> None:
    assert infotext(make_result(), 0) == (
        "a red circle on a blue background\n"
        "Negative prompt: blurry\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, "
        "Size: 64x64, Model hash: 1a2b3c4d5e, Model: builtin-shapes, Version: genlab 0.1.0"
    )


def test_infotext_uses_per_image_prompt_and_seed_and_orders_extras() -> None:
    base = make_result()
    request = base.request.replace(schedule="Automatic", init_image="in.png", strength=0.6)
    result = make_result(
        request=request,
        extra_params={"Lora hashes": "a: 1234", "Init image hash": "ff00", "Clip skip": 2},
    )
    assert infotext(result, 1) == (
        "a green circle on a blue background\n"
        "Negative prompt: blurry\n"
        "Steps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 43, Size: 64x64, "
        "Model hash: 1a2b3c4d5e, Model: builtin-shapes, Denoising strength: 0.6, Clip skip: 2, "
        'Init image hash: ff00, Lora hashes: "a: 1234", Version: genlab 0.1.0'
    )


def test_infotext_leaves_out_what_the_engine_ignores() -> None:
    unused = frozenset({"steps", "guidance_scale", "sampler", "schedule", "negative_prompt"})
    text = infotext(make_result(unused=unused, engine="procedural", model_hash=""), 0)
    assert text == (
        "a red circle on a blue background\n"
        "Seed: 42, Size: 64x64, Model: builtin-shapes, Version: genlab 0.1.0"
    )


def test_genlab_record_reproduces_one_image_alone() -> None:
    result = make_result()
    record = genlab_record(result, 1)
    assert record["version"] == "genlab 0.1.0"
    assert record["batch"] == {"size": 2, "index": 1, "seed": 42}
    assert record["prompt_used"] == "a green circle on a blue background"
    assert record["negative_prompt_used"] == "blurry"
    assert (record["engine"], record["model_hash"]) == ("builtin", "1a2b3c4d5e")
    assert record["timings"] == {"generate_s": 1.5}
    json.dumps(record)  # must be storable as it is
    request = request_from_metadata(ImageMetadata(record=record, source="genlab"))
    assert request == result.request.replace(seed=43, batch_size=1)
    assert request.prompt == "a __colour__ circle on a blue background"  # template kept


# -- request_from_metadata -------------------------------------------------------------


def from_text(text: str) -> GenerationRequest:
    return request_from_metadata(ImageMetadata(parameters=text, source="a1111", origin="x.png"))


def test_request_from_real_world_a1111_text() -> None:
    request = from_text(REAL_WORLD)
    assert request.prompt.startswith("masterpiece")
    assert request.negative_prompt == "lowres, bad anatomy,\nworst quality"
    assert (request.sampler, request.schedule) == ("DPM++ 2M", "Karras")  # legacy name split
    assert (request.steps, request.guidance_scale, request.seed) == (28, 6.5, 1234567890)
    assert (request.width, request.height) == (512, 768)
    assert request.model == "v1-5-pruned-emaonly"
    assert request.strength == 0.75  # 0.45 was the hires pass's, not an img2img strength
    assert (request.hires_denoise, request.hires_scale, request.hires_steps) == (0.45, 2.0, 15)
    assert request.clip_skip == 2
    assert request.hires_upscaler == "Lanczos"  # genlab has no ESRGAN: its closest


def test_request_from_new_style_sampler_and_img2img_strength() -> None:
    request = from_text(
        "a cat\nSteps: 9, Sampler: DPM++ 2M SDE, Schedule type: Exponential, CFG scale: 4, "
        "Seed: 3, Size: 768x512, Denoising strength: 0.3"
    )
    assert (request.sampler, request.schedule) == ("DPM++ 2M SDE", "Exponential")
    assert (request.width, request.height, request.strength) == (768, 512, 0.3)
    assert request.model == "procedural"  # no Model key: the default stays


def test_legacy_sampler_name_is_split() -> None:
    request = from_text("x\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1")
    assert (request.sampler, request.schedule) == ("DPM++ 2M", "Karras")
    request = from_text("x\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    assert (request.sampler, request.schedule) == ("Euler a", "Automatic")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Steps: 20, Sampler: LCM, Seed: 1", "sampler 'LCM' is not known"),
        ("Steps: 20, Sampler: Euler, Schedule type: Align Your Steps, Seed: 1", "Align Your"),
        ("Steps: twenty, Sampler: Euler, Seed: 1", "Steps='twenty' is not an integer"),
        ("Steps: 20, Size: big, Seed: 1", "Size='big' is not WIDTHxHEIGHT"),
        ("Steps: 20, Size: 100x100, Seed: 1", "width=100 is invalid"),
    ],
)
def test_unusable_parameters_are_one_line_errors(line: str, message: str) -> None:
    with pytest.raises(MetadataError) as info:
        from_text(f"a cat\n{line}")
    assert message in str(info.value)
    assert str(info.value).startswith("x.png") and "\n" not in str(info.value)


def test_no_parameters_at_all() -> None:
    with pytest.raises(MetadataError, match=r"^x.png has no generation parameters \(no A1111"):
        request_from_metadata(ImageMetadata(origin="x.png"))
    with pytest.raises(MetadataError, match="comfyui metadata"):
        request_from_metadata(ImageMetadata(comfy_prompt="{}", source="comfyui", origin="x"))
    with pytest.raises(MetadataError, match="no A1111 parameter line"):
        from_text("just a caption")
