"""The procedural engine: the Engine contract, seeds, batches and honest warnings."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import numpy as np
import pytest

from genlab.core.engine import Engine
from genlab.core.errors import EngineError
from genlab.core.request import GenerationRequest
from genlab.core.result import StepEvent
from genlab.engines import load_engine
from genlab.engines.procedural import ProceduralEngine
from genlab.world.parse import scene_from_prompt
from genlab.world.render import render

PROMPT = "two small yellow stars above a large purple hexagon at night"


def pixels(image) -> np.ndarray:
    return np.asarray(image)


def test_is_an_engine_found_by_name_and_alias() -> None:
    for name in ("procedural", "shapes-world"):
        engine = load_engine(name)
        assert isinstance(engine, ProceduralEngine) and isinstance(engine, Engine)
    engine = ProceduralEngine()
    assert (engine.name, engine.model, engine.samplers()) == ("procedural", "shapes-world", [])
    expected = hashlib.sha256(b"shapes-world-v2").hexdigest()[:10]
    assert engine.model_hash == expected


def test_result_describes_what_was_run() -> None:
    request = GenerationRequest(PROMPT, negative_prompt="blurry", seed=42, batch_size=2)
    result = ProceduralEngine().generate(request)
    assert [im.size for im in result.images] == [(256, 256)] * 2
    assert result.request == request.replace(width=256, height=256)
    assert result.seeds == (42, 43)
    assert result.prompts == (PROMPT, PROMPT)
    assert result.negative_prompts == ("blurry", "blurry")
    assert "steps" in result.unused and "seed" not in result.unused
    assert result.warnings == ()
    assert set(result.timings) == {"generate_s"}


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    engine = ProceduralEngine()
    first = engine.generate(GenerationRequest(PROMPT, seed=7, width=64, height=64)).images[0]
    again = engine.generate(GenerationRequest(PROMPT, seed=7, width=64, height=64)).images[0]
    other = engine.generate(GenerationRequest(PROMPT, seed=8, width=64, height=64)).images[0]
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_batch_image_i_equals_the_single_image_with_seed_s_plus_i() -> None:
    engine = ProceduralEngine()
    batch = engine.generate(
        GenerationRequest("a heart", seed=100, batch_size=3, width=64, height=48)
    )
    for i, image in enumerate(batch.images):
        alone = engine.generate(GenerationRequest("a heart", seed=100 + i, width=64, height=48))
        assert np.array_equal(pixels(image), pixels(alone.images[0]))


def test_scene_for_is_the_scene_drawn() -> None:
    engine = ProceduralEngine()
    result = engine.generate(GenerationRequest(PROMPT, seed=3, width=64, height=64))
    scene = ProceduralEngine.scene_for(result.prompts[0], 3)
    assert len(scene.objects) == 3 and scene.lighting == "night"
    # Redrawing the scene with the engine's generator state reproduces the pixels.
    rng = random.Random(3)
    assert scene_from_prompt(PROMPT, rng)[0] == scene
    assert np.array_equal(pixels(render(scene, 64, 64, rng=rng)), pixels(result.images[0]))


def test_unknown_words_become_one_warning_line() -> None:
    request = GenerationRequest("a fluffy dragon and a red circle", seed=1, batch_size=2)
    result = ProceduralEngine().generate(request)
    assert result.warnings == ("ignored words not in Shapes World's vocabulary: fluffy, dragon",)


def test_progress_is_reported_per_image() -> None:
    events: list[StepEvent] = []
    request = GenerationRequest("a star", seed=5, batch_size=3, width=32, height=32)
    ProceduralEngine().generate(request, on_step=events.append)
    assert [(e.step, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]
    assert events[1].preview is not None and len(events[1].preview()) == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"init_image": "in.png"},
        {"init_image": "in.png", "mask": "m.png"},
        {"loras": ("a.safetensors",)},
    ],
)
def test_image_inputs_and_loras_are_refused(changes: dict) -> None:
    request = GenerationRequest("a star", seed=1, **changes)
    with pytest.raises(EngineError, match="draws from prompts only"):
        ProceduralEngine().generate(request)


def test_unresolved_seed_is_a_bug_in_the_caller() -> None:
    with pytest.raises(ValueError, match="resolve the seed"):
        ProceduralEngine().generate(GenerationRequest("a star"))


def test_engine_does_not_import_torch() -> None:
    code = (
        "import sys; from genlab.engines.procedural import ProceduralEngine;"
        "from genlab.core.request import GenerationRequest;"
        "request = GenerationRequest('a red circle', seed=1, width=16, height=16);"
        "ProceduralEngine().generate(request);"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
