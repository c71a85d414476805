"""A1111's hires fix, tiling and clip skip fields mapped to genlab's request fields."""

from __future__ import annotations

import pytest

from genlab import GenerationRequest
from genlab.core.errors import InvalidRequest
from genlab.web.a1111 import request_fields


def fields(body: dict, *, img2img: bool = False) -> dict:
    return request_fields({"prompt": "x", **body}, img2img=img2img)[0]


def test_hires_fields_follow_a1111_names_and_defaults() -> None:
    got = fields(
        {
            "enable_hr": True,
            "hr_scale": 1.5,
            "hr_upscaler": "Latent (bicubic)",
            "hr_second_pass_steps": 12,
            "denoising_strength": 0.55,
        }
    )
    assert {k: got[k] for k in ("hires_scale", "hires_upscaler", "hires_steps")} == {
        "hires_scale": 1.5,
        "hires_upscaler": "Latent (bicubic)",
        "hires_steps": 12,
    }
    assert got["hires_denoise"] == 0.55 and "strength" not in got
    # A1111's defaults: scale 2, the Latent upscaler, the first pass's steps.
    request = GenerationRequest(**fields({"enable_hr": True}))
    assert (request.hires_scale, request.hires_upscaler, request.hires_steps) == (2.0, "Latent", 0)


def test_hr_fields_are_ignored_without_enable_hr_as_in_a1111() -> None:
    got = fields({"enable_hr": False, "hr_scale": 3, "hr_upscaler": "nonsense"})
    assert not any(key.startswith("hires") for key in got)


def test_a_resize_wins_over_the_scale_and_none_is_a_plain_resample() -> None:
    got = fields({"enable_hr": True, "hr_resize_x": 64, "hr_resize_y": 0, "hr_upscaler": "None"})
    request = GenerationRequest(**got)
    assert (request.hires_width, request.hires_height, request.hires_scale) == (64, None, 1.0)
    assert request.hires_upscaler == "Lanczos"


def test_tiling_and_clip_skip() -> None:
    got = fields({"tiling": True, "override_settings": {"CLIP_stop_at_last_layers": 2}})
    assert (got["tiling"], got["clip_skip"]) == (True, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enable_hr": "yes"}, "enable_hr"),
        ({"enable_hr": True, "hr_scale": 2**70}, "hires_scale"),
        ({"enable_hr": True, "hr_upscaler": "R-ESRGAN 4x+"}, "hires_upscaler"),
        ({"enable_hr": True, "hr_second_pass_steps": -1}, "hires_steps"),
        ({"enable_hr": True, "hr_resize_x": 13}, "hires_width"),
        ({"tiling": "\udcff"}, "tiling"),
        ({"override_settings": {"CLIP_stop_at_last_layers": 99}}, "clip_skip"),
    ],
)
def test_bad_values_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(InvalidRequest, match=field):
        GenerationRequest(**fields(body))
