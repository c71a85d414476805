"""A1111's mask options on GenerationRequest: validated once, refused without a mask."""

from __future__ import annotations

import pytest

from genlab.core.errors import InvalidRequest
from genlab.core.request import GenerationRequest

MASKED = {"prompt": "x", "init_image": "a.png", "mask": "m.png"}


def test_defaults_keep_a_hard_mask_and_the_original_content() -> None:
    request = GenerationRequest(**MASKED)
    assert request.mask_blur == 0 and not request.mask_invert
    assert request.inpaint_fill == "original" and not request.inpaint_only_masked
    assert request.inpaint_padding == 32


def test_every_option_is_accepted_with_a_mask_and_round_trips() -> None:
    request = GenerationRequest(
        **MASKED,
        mask_blur=4,
        mask_invert=True,
        inpaint_fill="latent noise",
        inpaint_only_masked=True,
        inpaint_padding=8,
    )
    assert GenerationRequest.from_dict(request.to_dict()) == request


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("mask_blur", -1, "from 0"),
        ("mask_blur", 2.5, "whole number"),
        ("inpaint_padding", True, "whole number"),
        ("mask_invert", 1, "true or false"),
        ("inpaint_only_masked", "yes", "true or false"),
        ("inpaint_fill", "noise", "latent noise"),
    ],
)
def test_bad_values_name_the_field_value_and_allowed(field, value, allowed) -> None:
    with pytest.raises(InvalidRequest) as err:
        GenerationRequest(**MASKED, **{field: value})
    assert field in str(err.value) and allowed in str(err.value)


@pytest.mark.parametrize(
    "option",
    [
        {"mask_blur": 4},
        {"mask_invert": True},
        {"inpaint_fill": "fill"},
        {"inpaint_only_masked": True},
        {"inpaint_padding": 0},
    ],
)
def test_mask_options_are_refused_without_a_mask(option) -> None:
    with pytest.raises(InvalidRequest, match="only with a mask"):
        GenerationRequest(prompt="x", init_image="a.png", **option)
