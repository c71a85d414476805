"""Property-based tests of the request types: any value either makes a valid request
or is refused with one InvalidRequest line; valid requests survive every round trip
genlab puts them through (JSON record, A1111 parameters text)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.core.errors import InvalidRequest
from genlab.core.metadata import format_parameters, parse_parameters
from genlab.core.request import SEED_LIMIT, GenerationRequest
from genlab.core.samplers import SAMPLERS, SCHEDULES

# Hostile values of every kind a JSON body or a flag can carry.
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
ordinary_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), max_size=80
)  # no surrogates, no controls: what a person types
valid_fields = st.fixed_dictionaries(
    {"prompt": ordinary_text},
    optional={
        "negative_prompt": ordinary_text,
        "width": st.integers(1, 64).map(lambda n: n * 8),
        "height": st.integers(1, 64).map(lambda n: n * 8),
        "steps": st.integers(1, 1000),
        "guidance_scale": st.floats(0, 100, allow_nan=False),
        "sampler": st.sampled_from(SAMPLERS),
        "schedule": st.sampled_from(SCHEDULES),
        "seed": st.integers(-1, SEED_LIMIT - 1),
        "batch_size": st.integers(1, 4),
        "strength": st.floats(0, 1),
        "loras": st.lists(st.sampled_from(["a.safetensors", "b.safetensors:0.5"]), max_size=2),
    },
)
FIELDS = [
    "prompt", "negative_prompt", "width", "height", "steps", "guidance_scale", "sampler",
    "schedule", "seed", "batch_size", "model", "init_image", "strength", "mask", "loras",
]  # fmt: skip


@given(valid_fields, st.sampled_from(FIELDS), hostile)
@settings(max_examples=300)
def test_any_field_value_is_accepted_or_refused_in_one_line(fields, name, value) -> None:
    fields = {**fields, name: value}
    try:
        request = GenerationRequest(**fields)
    except InvalidRequest as err:
        message = str(err)
        assert "\n" not in message and len(message) < 400
        message.encode("utf-8")
        return
    # Accepted: it must survive JSON and come back equal.
    text = json.dumps(request.to_dict())
    assert GenerationRequest.from_dict(json.loads(text)) == request


@given(valid_fields)
def test_valid_requests_round_trip_through_json(fields) -> None:
    request = GenerationRequest(**fields).with_seed()
    assert GenerationRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert all(0 <= seed < SEED_LIMIT for seed in request.seeds())


# Values as tools write them into the params line: any text without surrounding
# spaces (A1111 strips each value), separators and quotes included.
param_value = (
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r"),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)


@given(st.lists(param_value, min_size=3, max_size=6))
def test_a1111_params_round_trip_whatever_they_hold(values) -> None:
    params = {f"Key {i}": value for i, value in enumerate(values)}
    text = format_parameters("a red circle", "blurry", params)
    parsed = parse_parameters(text)
    assert (parsed.prompt, parsed.negative_prompt) == ("a red circle", "blurry")
    assert parsed.params == params
