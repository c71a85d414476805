"""Hires fix and tiling in the diffusers engine (tiny real pipeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genlab import GenerationRequest
from genlab.core.errors import EngineError, InvalidRequest
from genlab.core.imageio import ImageMetadata
from genlab.core.metadata import infotext, parse_parameters, request_from_metadata
from genlab.engines import load_engine
from genlab.engines.diffusers_engine import DiffusersEngine
from genlab.engines.procedural import ProceduralEngine

pytestmark = pytest.mark.usefixtures("one_thread_flushed")


@pytest.fixture(scope="module")
def engine(tiny_sd_dir: Path) -> DiffusersEngine:
    return load_engine(str(tiny_sd_dir))


def request(engine: DiffusersEngine, **fields) -> GenerationRequest:
    fields = {"seed": 2, "steps": 2, "width": 16, "height": 16, **fields}
    return GenerationRequest("a red circle", model=engine.model, **fields)


def unet_sizes(engine: DiffusersEngine, req: GenerationRequest) -> tuple[list, object]:
    """The latent size of every UNet call, and the result."""
    sizes: list[tuple[int, int]] = []
    handle = engine.pipe.unet.register_forward_pre_hook(
        lambda _m, args: sizes.append(tuple(args[0].shape[-2:]))
    )
    try:
        return sizes, engine.generate(req)
    finally:
        handle.remove()


@pytest.mark.parametrize("upscaler", ["Latent", "Latent (nearest-exact)", "Lanczos", "espcn"])
def test_hires_fix_runs_a_second_pass_at_the_larger_size(engine, upscaler) -> None:
    req = request(engine, hires_scale=2, hires_upscaler=upscaler, hires_steps=4, hires_denoise=0.5)
    sizes, result = unet_sizes(engine, req)
    # First pass 2 steps at 16 px (8x8 latents: the tiny VAE halves), then int(4 * 0.5) = 2
    # steps at 32 px.
    assert sizes == [(8, 8)] * 2 + [(16, 16)] * 2
    assert result.images[0].size == (32, 32)
    text = infotext(result, 0)
    assert "Size: 16x16" in text
    params = parse_parameters(text).params
    assert params["Hires upscale"] == "2" and params["Hires upscaler"] == upscaler
    assert params["Hires steps"] == "4" and params["Denoising strength"] == "0.5"
    again = request_from_metadata(ImageMetadata(parameters=text, origin="x"))
    assert (again.hires_scale, again.hires_upscaler, again.hires_denoise) == (2.0, upscaler, 0.5)
    assert again.strength == 0.75  # the img2img strength is untouched


def test_hires_size_from_a_given_side_keeps_the_aspect_ratio(engine) -> None:
    req = request(engine, width=32, hires_width=48, hires_denoise=0.5)
    _, result = unet_sizes(engine, req)
    assert result.images[0].size == (48, 24)
    assert "Hires resize: 48x0" in infotext(result, 0)


def test_hires_is_reproducible_and_differs_from_a_plain_upscale(engine) -> None:
    req = request(engine, hires_scale=2, hires_upscaler="Lanczos", hires_denoise=0.6)
    a, b = engine.generate(req).images[0], engine.generate(req).images[0]
    assert np.array_equal(np.asarray(a), np.asarray(b))
    plain = engine.generate(request(engine)).images[0].resize((32, 32))
    assert not np.array_equal(np.asarray(a), np.asarray(plain))


def test_hires_options_are_validated_in_one_line() -> None:
    with pytest.raises(InvalidRequest, match=r"hires_upscaler.*valid: Latent"):
        GenerationRequest("x", hires_scale=2, hires_upscaler="R-ESRGAN 4x+")
    with pytest.raises(InvalidRequest, match="applies only with hires fix"):
        GenerationRequest("x", hires_steps=5)
    with pytest.raises(InvalidRequest, match="hires_scale"):
        GenerationRequest("x", hires_scale=2**70)
    with pytest.raises(InvalidRequest, match="hires_scale"):
        GenerationRequest("x", hires_scale=float("nan"))
    with pytest.raises(InvalidRequest, match="img2img has no hires pass"):
        GenerationRequest("x", hires_scale=2, init_image="a.png")
    with pytest.raises(InvalidRequest, match="pixels per batch"):
        GenerationRequest("x", width=2048, height=2048, batch_size=4, hires_scale=2)
    with pytest.raises(InvalidRequest, match="tiling"):
        GenerationRequest("x", tiling="yes")


def test_a_second_pass_without_a_step_is_refused(engine) -> None:
    with pytest.raises(InvalidRequest, match="strength"):
        engine.generate(request(engine, hires_scale=2, hires_denoise=0.1))


def test_tiling_pads_circularly_during_the_call_only(engine) -> None:
    modes: list[str] = []
    conv = engine.pipe.unet.conv_in
    handle = conv.register_forward_pre_hook(lambda m, _a: modes.append(m.padding_mode))
    try:
        tiled = engine.generate(request(engine, tiling=True))
    finally:
        handle.remove()
    assert modes == ["circular"] * 2 and conv.padding_mode == "zeros"
    assert engine.pipe.vae.decoder.conv_out.padding_mode == "zeros"
    assert "Tiling: True" in infotext(tiled, 0)
    plain = engine.generate(request(engine))
    assert not np.array_equal(np.asarray(tiled.images[0]), np.asarray(plain.images[0]))


def test_procedural_refuses_hires_and_tiling() -> None:
    with pytest.raises(EngineError, match="hires fix and tiling need a diffusion model"):
        ProceduralEngine().generate(GenerationRequest("a red circle", seed=1, tiling=True))


def test_latent_hires_and_composition_on_the_builtin_model() -> None:
    """The built-in UNet has 8 latent channels, which diffusers' img2img cannot take as
    latents: the latent upscale must start the second pass all the same."""
    builtin = load_engine("builtin")
    req = GenerationRequest(
        "a red circle AND a blue square:0.5",
        model="builtin",
        seed=1,
        steps=2,
        width=32,
        height=32,
        hires_scale=2,
        hires_denoise=0.5,
    )
    result = builtin.generate(req)
    assert result.images[0].size == (64, 64)
    assert "Hires upscaler: Latent" in infotext(result, 0)


def test_the_second_pass_is_checked_as_the_size_it_runs_at(engine) -> None:
    # 1024 x 2 = 2048 px a side, batch 2: within the per-batch pixel budget; the second
    # pass must not be mistaken for a request to hires-fix 2048 px again.
    req = request(engine, width=1024, height=1024, batch_size=2, hires_scale=2)
    second = engine._hires_request(req)
    assert (second.width, second.height, second.hires) == (2048, 2048, False)
    assert second.steps == req.steps and second.strength == req.hires_denoise
