"""GenerationRequest validation, JSON round trip, batch seeds and LoRA specs."""

from __future__ import annotations

import math

import pytest

from genlab.core.errors import InvalidRequest
from genlab.core.request import SEED_LIMIT, GenerationRequest, LoraSpec


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt": 5}, "prompt"),
        ({"negative_prompt": None}, "negative_prompt"),
        ({"width": 100}, "width"),
        ({"width": 0}, "width"),
        ({"height": 4104}, "height"),
        ({"height": 64.0}, "height"),
        ({"width": 2048, "height": 2048, "batch_size": 5}, "width*height*batch_size"),
        ({"steps": 0}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"guidance_scale": -1}, "guidance_scale"),
        ({"guidance_scale": math.nan}, "guidance_scale"),
        ({"guidance_scale": "7"}, "guidance_scale"),
        ({"sampler": "Foo"}, "sampler"),
        ({"sampler": 3}, "sampler"),
        ({"schedule": "Bar"}, "schedule"),
        ({"seed": -2}, "seed"),
        ({"seed": SEED_LIMIT}, "seed"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 65}, "batch_size"),
        ({"model": "  "}, "model"),
        ({"strength": 1.5}, "strength"),
        ({"mask": "mask.png"}, "mask"),
        ({"loras": (LoraSpec("x.safetensors", "strong"),)}, "loras"),  # type: ignore[arg-type]
        ({"loras": (3,)}, "loras"),
    ],
)
def test_each_bad_field_is_named(changes: dict, field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        GenerationRequest(**{"prompt": "a cat", **changes})
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(f"{field}=") and "\n" not in message


def test_names_are_made_canonical() -> None:
    request = GenerationRequest("a cat", sampler="euler A", schedule="karras", guidance_scale=7)
    assert (request.sampler, request.schedule) == ("Euler a", "Karras")
    assert isinstance(request.guidance_scale, float)


def test_dict_round_trip_keeps_every_field() -> None:
    request = GenerationRequest(
        "a (red:1.2) circle",
        negative_prompt="blurry",
        width=64,
        height=96,
        steps=12,
        guidance_scale=5.5,
        sampler="DPM++ 2M",
        schedule="Karras",
        seed=7,
        batch_size=3,
        model="builtin",
        init_image="in.png",
        strength=0.4,
        mask="mask.png",
        loras=("detail.safetensors:0.8", "C:\\loras\\style.safetensors"),
    )
    data = request.to_dict()
    assert data["loras"] == ["detail.safetensors:0.8", "C:\\loras\\style.safetensors:1"]
    assert GenerationRequest.from_dict(data) == request


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(InvalidRequest) as info:
        GenerationRequest.from_dict({"prompt": "a cat", "cfg": 7})
    assert info.value.field == "request"
    assert "cfg" in str(info.value)


def test_batch_seeds_count_up_from_the_seed() -> None:
    assert GenerationRequest("a", seed=5, batch_size=3).seeds() == [5, 6, 7]
    # The last seed of the 32-bit range wraps around instead of leaving it.
    assert GenerationRequest("a", seed=SEED_LIMIT - 1, batch_size=2).seeds() == [SEED_LIMIT - 1, 0]


def test_random_seed_is_resolved_before_seeds_are_drawn() -> None:
    request = GenerationRequest("a", batch_size=2)
    with pytest.raises(ValueError):
        request.seeds()
    resolved = request.with_seed()
    assert 0 <= resolved.seed < SEED_LIMIT
    assert resolved.replace(seed=-1) == request
    assert resolved.with_seed() is resolved


@pytest.mark.parametrize(
    ("text", "path", "weight"),
    [
        ("detail.safetensors:0.8", "detail.safetensors", 0.8),
        ("detail.safetensors", "detail.safetensors", 1.0),
        ("loras/detail.safetensors:-0.5", "loras/detail.safetensors", -0.5),
        ("C:\\loras\\detail.safetensors", "C:\\loras\\detail.safetensors", 1.0),
        ("C:\\loras\\detail.safetensors:0.5", "C:\\loras\\detail.safetensors", 0.5),
        ("C:detail.safetensors", "C:detail.safetensors", 1.0),
    ],
)
def test_lora_spec_parse(text: str, path: str, weight: float) -> None:
    spec = LoraSpec.parse(text)
    assert (spec.path, spec.weight) == (path, weight)
    assert LoraSpec.parse(str(spec)) == spec
