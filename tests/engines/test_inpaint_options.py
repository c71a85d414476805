"""A1111's mask options in the diffusers engine: on the shipped model (8 latent channels,
inpainting by blending) and on a tiny 4-channel SD pipeline (diffusers' inpainting)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.core.errors import InvalidRequest
from genlab.core.metadata import infotext
from genlab.core.request import GenerationRequest
from genlab.engines import load_engine, masking
from genlab.engines.masking import crop_box, plan_inpaint

BLUE = (20, 40, 200)


@pytest.fixture(scope="module", autouse=True)
def _flush_denormals():
    """Random tiny networks make subnormal floats, which slow CPU matmuls; flushing is
    process state, so it is undone after this file (hypothesis needs subnormals)."""
    import torch

    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def builtin():
    return load_engine("builtin")


def inputs(tmp_path: Path, box=(0, 0, 32, 64), size=64) -> dict[str, str]:
    # One file per size and box: a request made later must not change an earlier one's.
    init = tmp_path / f"init-{size}.png"
    mask = tmp_path / f"mask-{size}-{'-'.join(map(str, box))}.png"
    Image.new("RGB", (size, size), BLUE).save(init)
    m = Image.new("L", (size, size), 0)
    m.paste(255, box)
    m.save(mask)
    return {"init_image": str(init), "mask": str(mask)}


def masked(tmp_path: Path, model: str = "builtin", **fields) -> GenerationRequest:
    files = {} if "mask" in fields else inputs(tmp_path)
    base = {"seed": 7, "steps": 4, "strength": 1.0, **files, **fields}
    return GenerationRequest("a large yellow star", model=model, **base)


def px(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), np.int16)


# -- pixels only ------------------------------------------------------------------------


def test_crop_box_pads_and_keeps_the_aspect_ratio_inside_the_image() -> None:
    mask = Image.new("L", (64, 32), 0)
    mask.paste(255, (30, 10, 34, 14))
    left, top, right, bottom = crop_box(mask, 2)
    assert (right - left) == 2 * (bottom - top)  # 64:32
    assert left <= 28 and top <= 8 and right >= 36 and bottom >= 16
    corner = Image.new("L", (64, 64), 0)
    corner.paste(255, (60, 0, 64, 20))
    assert crop_box(corner, 8) == (36, 0, 64, 28)  # widened to the left, within the image
    assert crop_box(Image.new("L", (8, 8), 0), 4) is None


def test_fill_paints_the_hole_from_its_surroundings_and_keeps_the_rest() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = (200, 0, 0)
    image[:, 16:] = (0, 0, 200)
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    out = px(masking.fill(Image.fromarray(image), mask))
    keep = np.asarray(mask) == 0
    assert (out[keep] == image[keep]).all()
    assert out[16, 9, 0] > out[16, 9, 2] and out[16, 22, 2] > out[16, 22, 0]  # nearest colour


def test_plan_writes_a1111_keys_for_what_applies(tmp_path) -> None:
    request = masked(
        tmp_path, mask_blur=4, mask_invert=True, inpaint_fill="fill", inpaint_only_masked=True
    )
    init, mask = Image.open(request.init_image), Image.open(request.mask)
    assert plan_inpaint(request, init, mask).extra == {
        "Mask mode": "Inpaint not masked",
        "Mask blur": 4,
        "Inpaint area": "Only masked",
        "Masked area padding": 32,
        "Masked content": "fill",
    }
    assert plan_inpaint(masked(tmp_path), init, mask).extra == {}


# -- the shipped model (blending) ---------------------------------------------------------


def test_invert_repaints_the_other_half(builtin, tmp_path) -> None:
    out = px(builtin.generate(masked(tmp_path, mask_invert=True)).images[0])
    assert (out[:, :32] == BLUE).all()  # the mask's white half is kept
    assert np.abs(out[:, 32:] - BLUE).mean() > 10  # its black half is drawn anew


def test_blur_softens_the_seam_and_is_written(builtin, tmp_path) -> None:
    hard = px(builtin.generate(masked(tmp_path)).images[0])
    result = builtin.generate(masked(tmp_path, mask_blur=4))
    soft = px(result.images[0])
    assert (hard[:, 32:36] == BLUE).all()
    assert (soft[:, 32:36] != BLUE).any()  # the doubled blurred mask reaches past the edge
    assert (soft[:, 48:] == BLUE).all()  # far from the edge: untouched
    assert "Mask blur: 4" in infotext(result, 0)


def test_fill_modes_change_the_start_and_stay_reproducible(builtin, tmp_path) -> None:
    init = Image.new("RGB", (64, 64), BLUE)
    init.paste((220, 30, 30), (0, 0, 32, 64))  # the masked half is red: "fill" makes it blue
    init.save(tmp_path / "red.png")
    red = {"init_image": str(tmp_path / "red.png"), "strength": 0.6}
    runs = {
        fill: builtin.generate(masked(tmp_path, inpaint_fill=fill, batch_size=2, **red))
        for fill in ("original", "fill", "latent noise", "latent nothing")
    }
    images = {fill: px(result.images[0]) for fill, result in runs.items()}
    for fill in ("fill", "latent noise", "latent nothing"):
        assert np.abs(images[fill] - images["original"]).mean() > 1, fill
        assert f"Masked content: {fill}" in infotext(runs[fill], 0)
        assert (images[fill][:, 32:] == BLUE).all()
    assert "Masked content" not in infotext(runs["original"], 0)
    # Image 2 of a batch is image 1 of a run with its seed (noise from its own seed).
    alone = builtin.generate(masked(tmp_path, inpaint_fill="latent noise", seed=8, **red))
    second = px(runs["latent noise"].images[1])
    assert np.abs(second - px(alone.images[0])).max() <= 2


def test_only_masked_leaves_everything_outside_the_padded_box(builtin, tmp_path) -> None:
    request = masked(
        tmp_path, inpaint_only_masked=True, inpaint_padding=4, **inputs(tmp_path, (24, 24, 40, 40))
    )
    result = builtin.generate(request)
    out = px(result.images[0])
    assert result.images[0].size == (64, 64)
    outside = np.ones((64, 64), bool)
    outside[20:44, 20:44] = False
    assert (out[outside] == BLUE).all()
    assert np.abs(out[24:40, 24:40] - BLUE).mean() > 10
    text = infotext(result, 0)
    assert "Inpaint area: Only masked" in text and "Masked area padding: 4" in text


def test_only_masked_with_an_empty_mask_says_so(builtin, tmp_path) -> None:
    request = masked(tmp_path, inpaint_only_masked=True, **inputs(tmp_path, (0, 0, 0, 0)))
    with pytest.raises(InvalidRequest, match="empty"):
        builtin.generate(request)


# -- diffusers' own inpainting pipeline (4 channels) -------------------------------------


def test_options_apply_on_diffusers_inpainting_pipeline(tiny_sd_dir, tmp_path) -> None:
    engine = load_engine(str(tiny_sd_dir))
    files = inputs(tmp_path, (0, 0, 16, 32), size=32)

    def run(**fields):
        request = masked(tmp_path, model=str(tiny_sd_dir), steps=3, **{**files, **fields})
        return px(engine.generate(request).images[0])

    inverted = run(mask_invert=True)
    assert (inverted[:, :16] == BLUE).all() and (inverted[:, 16:] != BLUE).any()
    original, nothing = run(strength=0.6), run(strength=0.6, inpaint_fill="latent nothing")
    assert np.abs(original - nothing).mean() > 0
    assert np.array_equal(nothing, run(strength=0.6, inpaint_fill="latent nothing"))
    boxed = run(inpaint_only_masked=True, inpaint_padding=0, **inputs(tmp_path, (0, 0, 8, 8), 32))
    assert (boxed[8:, :] == BLUE).all() and (boxed[:, 8:] == BLUE).all()
