"""The shipped model: a plain diffusers folder inside the package that draws what it
is asked for, with the settings it was tuned for and a warning for unknown words."""

from __future__ import annotations

import pytest
import torch

from genlab.engines import load_engine
from genlab.engines.builtin import builtin_folder
from genlab.services.generation import new_request
from genlab.world.detect import detect

MAX_BYTES = 40 * 1024 * 1024


@pytest.fixture(scope="module")
def engine():
    # Flushing denormals is process-wide: undone after this file, since other tests
    # (Hypothesis, on subnormal floats) share the process.
    torch.set_flush_denormal(True)
    yield load_engine("builtin")
    torch.set_flush_denormal(False)


def test_shipped_folder_is_small_and_loads_with_plain_diffusers():
    from diffusers import StableDiffusionPipeline

    folder = builtin_folder()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= MAX_BYTES
    pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    assert pipe.scheduler.config.prediction_type == "flow_prediction"


@pytest.mark.xfail(
    strict=True,
    reason="the shipped model draws coloured blobs, not yet recognisable shapes "
    "(docs/models/builtin.md); this must start passing when a better one ships",
)
def test_draws_a_red_circle_the_detector_recognises(engine):
    request = new_request(prompt="a red circle", model="builtin", seed=0, batch_size=4)
    result = engine.generate(request)
    found = [[(o.colour, o.shape) for o in detect(image).objects] for image in result.images]
    hits = sum(objects == [("red", "circle")] for objects in found)
    assert hits >= 3, found


def test_uses_its_tuned_defaults_where_the_user_sets_nothing():
    request = new_request(prompt="a red circle", model="builtin")
    assert (request.steps, request.guidance_scale) == (8, 5.0)
    assert new_request(prompt="a red circle", model="builtin", steps=30).steps == 30


def test_unknown_words_still_generate_with_one_warning(engine):
    request = new_request(prompt="a red dragon, (circle:1.2)", model="builtin", seed=1)
    result = engine.generate(request)
    assert len(result.images) == 1
    assert len(result.warnings) == 1
    assert "dragon" in result.warnings[0] and "circle" not in result.warnings[0]
    quiet = engine.generate(new_request(prompt="a red circle", model="builtin", seed=1))
    assert quiet.warnings == ()


def test_masked_img2img_blends_for_its_8_latent_channels(engine, tmp_path):
    """diffusers blends only for 4-channel UNets; genlab blends for any count: what is
    not masked stays the init image, the masked half is drawn anew, and each image of
    a batch depends on its own seed only."""
    import numpy as np
    from PIL import Image

    assert engine.pipe.unet.config.in_channels == 8
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (20, 40, 200)).save(init)
    m = Image.new("L", (64, 64), 0)
    m.paste(255, (0, 0, 32, 64))  # draw the left half anew
    m.save(mask)
    base = new_request(
        prompt="a large yellow star", model="builtin", seed=7, steps=6, strength=1.0,
        init_image=str(init), mask=str(mask),
    )  # fmt: skip
    pair = engine.generate(base.replace(batch_size=2))
    alone = engine.generate(base.replace(seed=8))
    assert [i.size for i in pair.images] == [(64, 64), (64, 64)]
    # Batched arithmetic may round differently: within 2 levels, as for txt2img.
    second, single = (np.asarray(i, np.int16) for i in (pair.images[1], alone.images[0]))
    assert np.abs(second - single).max() <= 2
    out = np.asarray(pair.images[0], np.int16)
    start = np.asarray(Image.open(init).convert("RGB"), np.int16)
    assert np.array_equal(out[:, 32:], start[:, 32:])  # not masked: untouched
    assert np.abs(out[:, :32] - start[:, :32]).mean() > 10  # masked: drawn anew
