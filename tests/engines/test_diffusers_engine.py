"""The diffusers engine against a tiny real SD pipeline saved to a folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab import GenerationRequest, LoadOptions, StepEvent
from genlab.core.errors import EngineError, InvalidRequest, UnsupportedImage
from genlab.engines import load_engine
from genlab.engines.diffusers_engine import DiffusersEngine
from genlab.engines.schedulers import accepted_samplers


@pytest.fixture(scope="module", autouse=True)
def _flush_denormals():
    """The random tiny networks produce subnormal floats, which make CPU matmuls up to
    100x slower; flushing them changes nothing visible in 8-bit images."""
    import torch

    # Flushing is per thread, so the tiny model runs on this thread only (it is too
    # small to gain from more).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine(tiny_sd_dir: Path) -> DiffusersEngine:
    return load_engine(str(tiny_sd_dir))


def request(model: Path, **fields) -> GenerationRequest:
    fields = {"seed": 1, "steps": 2, **fields}
    return GenerationRequest(fields.pop("prompt", "a red circle"), model=str(model), **fields)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_txt2img_native_size_name_and_hash(engine, tiny_sd_dir) -> None:
    result = engine.generate(request(tiny_sd_dir, batch_size=2))
    assert [im.size for im in result.images] == [(16, 16), (16, 16)]
    assert result.request.width == result.request.height == 16
    assert result.seeds == (1, 2)
    assert result.model == tiny_sd_dir.name
    assert len(result.model_hash) == 10
    assert result.unused == frozenset({"strength"})


def test_same_seed_same_pixels_and_batch_image_reproducible_alone(engine, tiny_sd_dir) -> None:
    batch = engine.generate(request(tiny_sd_dir, seed=10, batch_size=3, width=24, height=24))
    again = engine.generate(request(tiny_sd_dir, seed=10, batch_size=3, width=24, height=24))
    alone = engine.generate(request(tiny_sd_dir, seed=12, width=24, height=24))
    for a, b in zip(batch.images, again.images):
        assert np.array_equal(pixels(a), pixels(b))
    # Same start noise; a batched UNet call may round differently from a single one,
    # by at most a level or two after 8-bit quantisation (`--from` regenerates the
    # whole batch when it must be exact).
    assert np.abs(pixels(batch.images[2]) - pixels(alone.images[0])).max() <= 2
    assert not np.array_equal(pixels(batch.images[0]), pixels(batch.images[1]))


def test_every_accepted_sampler_and_schedule_runs(engine, tiny_sd_dir) -> None:
    combos = accepted_samplers(engine.scheduler_config)
    assert len(combos) == 12  # every A1111 name genlab knows, PLMS included
    for sampler, schedules in combos:
        for schedule in schedules:
            result = engine.generate(request(tiny_sd_dir, sampler=sampler, schedule=schedule))
            assert np.isfinite(pixels(result.images[0])).all(), (sampler, schedule)


def test_schedule_changes_the_scheduler_config(engine, tiny_sd_dir) -> None:
    engine.generate(request(tiny_sd_dir, sampler="DPM++ 2M", schedule="Karras"))
    assert engine._pipes["txt2img"].scheduler.config.use_karras_sigmas is True
    engine.generate(request(tiny_sd_dir, sampler="Euler a", schedule="SGM Uniform"))
    scheduler = engine._pipes["txt2img"].scheduler
    assert type(scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert scheduler.config.timestep_spacing == "trailing"


def test_unavailable_schedule_is_refused(engine, tiny_sd_dir) -> None:
    with pytest.raises(EngineError, match="'Karras' is not available with sampler 'DDIM'"):
        engine.generate(request(tiny_sd_dir, sampler="DDIM", schedule="Karras"))


def test_on_step_reports_every_step_with_a_preview(engine, tiny_sd_dir) -> None:
    events: list[StepEvent] = []
    engine.generate(request(tiny_sd_dir, steps=3), on_step=events.append)
    assert [(e.step, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]
    assert events[-1].preview()[0].size == (16, 16)


def test_weighted_prompt_changes_the_image(engine, tiny_sd_dir) -> None:
    plain = engine.generate(request(tiny_sd_dir, prompt="a red circle"))
    weighted = engine.generate(request(tiny_sd_dir, prompt="a (red:1.5) circle"))
    assert not np.array_equal(pixels(plain.images[0]), pixels(weighted.images[0]))


def test_wildcards_are_expanded_per_image_seed(engine, tiny_sd_dir) -> None:
    result = engine.generate(request(tiny_sd_dir, prompt="a {red|blue|green} star", batch_size=6))
    assert all(p.startswith("a ") and "{" not in p for p in result.prompts)
    alone = engine.generate(request(tiny_sd_dir, prompt="a {red|blue|green} star", seed=4))
    assert alone.prompts[0] == result.prompts[3]


def test_img2img_uses_init_image_size_and_strength(engine, tiny_sd_dir, tmp_path) -> None:
    init = tmp_path / "init.png"
    Image.new("RGB", (35, 27), (200, 100, 50)).save(init)
    result = engine.generate(request(tiny_sd_dir, init_image=str(init), strength=0.5, steps=4))
    assert result.images[0].size == (32, 24)  # rounded down to multiples of 8
    assert result.extra_params["Denoising strength"] == 0.5
    low = engine.generate(request(tiny_sd_dir, init_image=str(init), strength=0.25, steps=4))
    start = pixels(Image.open(init).resize((32, 24)))
    # Less denoising stays closer to the init image.
    assert (
        np.abs(pixels(low.images[0]) - start).mean()
        < np.abs(pixels(result.images[0]) - start).mean()
    )


def test_inpainting_with_a_9_channel_unet(tiny_inpaint_dir, tmp_path) -> None:
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (16, 16), (10, 200, 10)).save(init)
    Image.new("L", (16, 16), 255).save(mask)
    engine = load_engine(str(tiny_inpaint_dir))
    result = engine.generate(
        request(tiny_inpaint_dir, init_image=str(init), mask=str(mask), strength=1.0)
    )
    assert result.images[0].size == (16, 16)


def test_inpainting_with_a_4_channel_unet_keeps_unmasked_area(engine, tiny_sd_dir, tmp_path):
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (32, 32), (10, 200, 10)).save(init)
    m = Image.new("L", (32, 32), 0)
    m.paste(255, (0, 0, 16, 32))  # repaint the left half only
    m.save(mask)
    result = engine.generate(request(tiny_sd_dir, init_image=str(init), mask=str(mask), steps=3))
    out = pixels(result.images[0])
    start = pixels(Image.open(init))
    assert np.abs(out[:, 24:] - start[:, 24:]).mean() < np.abs(out[:, :8] - start[:, :8]).mean()


def test_mask_of_wrong_size_and_corrupt_init_image(engine, tiny_sd_dir, tmp_path) -> None:
    init, mask, bad = tmp_path / "init.png", tmp_path / "mask.png", tmp_path / "bad.png"
    Image.new("RGB", (16, 16)).save(init)
    Image.new("L", (24, 16)).save(mask)
    bad.write_text("not a png")
    with pytest.raises(UnsupportedImage, match=r"mask .* is 24x16 but the init image is 16x16"):
        engine.generate(request(tiny_sd_dir, init_image=str(init), mask=str(mask)))
    with pytest.raises(UnsupportedImage, match=r"init image .* not an image"):
        engine.generate(request(tiny_sd_dir, init_image=str(bad)))


def test_size_beyond_the_memory_estimate_is_refused(tiny_sd_dir) -> None:
    from genlab.engines.memory import activation_bytes

    engine = DiffusersEngine(str(tiny_sd_dir), memory_budget=64 * 2**20)
    small = activation_bytes(engine.pipe, 16, 16, 1, cfg=True)
    big = activation_bytes(engine.pipe, 1024, 1024, 1, cfg=True)
    assert activation_bytes(engine.pipe, 1024, 1024, 2, cfg=True) == 2 * big
    assert big > 64 * 2**20 > small
    with pytest.raises(InvalidRequest, match=r"^width\*height\*batch_size='1024x1024x1'.*GiB"):
        engine.generate(request(tiny_sd_dir, width=1024, height=1024))
    assert engine.generate(request(tiny_sd_dir)).images[0].size == (16, 16)


FLOW_VARIANTS = {
    "flow flags": {"use_flow_sigmas": True, "prediction_type": "flow_prediction"},
    "FlowMatch class": {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0},
}


@pytest.mark.parametrize("variant", FLOW_VARIANTS)
def test_flow_matching_model_accepts_only_flow_samplers(tiny_sd_dir, tmp_path, variant) -> None:
    flow = tmp_path / "flow"
    shutil.copytree(tiny_sd_dir, flow)
    config_file = flow / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text())
    config.update(FLOW_VARIANTS[variant])
    config_file.write_text(json.dumps(config))
    # The pipeline picks each component's class from model_index.json.
    index_file = flow / "model_index.json"
    index = json.loads(index_file.read_text())
    index["scheduler"][1] = config["_class_name"]
    index_file.write_text(json.dumps(index))
    engine = load_engine(str(flow))
    assert [name for name, _ in engine.samplers()] == ["DPM++ 2M", "UniPC"]
    with pytest.raises(
        EngineError,
        match=r"^sampler 'Euler a' does not work with a flow-matching model; "
        r"accepted: DPM\+\+ 2M, UniPC$",
    ):
        engine.generate(request(flow, sampler="Euler a"))
    for sampler in ("UniPC", "DPM++ 2M"):
        result = engine.generate(request(flow, sampler=sampler))
        scheduler = engine._pipes["txt2img"].scheduler
        assert scheduler.config.use_flow_sigmas is True
        assert scheduler.config.prediction_type == "flow_prediction"
        assert scheduler.config.flow_shift == config.get("shift", 1.0)
        assert result.images[0].size == (16, 16)


def test_low_memory_switches_on_cpu(tiny_sd_dir) -> None:
    engine = load_engine(str(tiny_sd_dir), LoadOptions(attention_slicing=True, cpu_offload=True))
    result = engine.generate(request(tiny_sd_dir))
    assert "--cpu-offload does nothing on the cpu device; ignored" in result.warnings


@pytest.mark.parametrize(
    ("options", "field"),
    [(LoadOptions(dtype="fp16"), "dtype"), (LoadOptions(device="cuda:7"), "device")],
)
def test_bad_device_or_dtype(tiny_sd_dir, options, field) -> None:
    import torch

    if field == "device" and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(InvalidRequest, match=f"^{field}="):
        load_engine(str(tiny_sd_dir), options)


def test_inpainting_model_refuses_txt2img(tiny_inpaint_dir) -> None:
    engine = load_engine(str(tiny_inpaint_dir))
    with pytest.raises(EngineError, match=r"inpainting model .* needs init_image and mask"):
        engine.generate(request(tiny_inpaint_dir))


def test_init_image_fills_only_the_missing_side(engine, tiny_sd_dir, tmp_path) -> None:
    init = tmp_path / "init.png"
    Image.new("RGB", (35, 27), (200, 100, 50)).save(init)
    result = engine.generate(request(tiny_sd_dir, init_image=str(init), width=16, steps=2))
    assert result.images[0].size == (16, 24)
    assert (result.request.width, result.request.height) == (16, 24)


def test_strength_too_small_for_one_step_and_tiny_init_image(engine, tiny_sd_dir, tmp_path):
    init, tiny = tmp_path / "init.png", tmp_path / "tiny.png"
    Image.new("RGB", (16, 16)).save(init)
    Image.new("RGB", (5, 16)).save(tiny)
    with pytest.raises(InvalidRequest, match=r"^strength=0\.1 .*at least 0\.5"):
        engine.generate(request(tiny_sd_dir, init_image=str(init), strength=0.1, steps=2))
    with pytest.raises(UnsupportedImage, match="is 5x16; both sides must be at least 8"):
        engine.generate(request(tiny_sd_dir, init_image=str(tiny)))


def test_unresolved_seed_is_a_bug_not_a_user_error(engine, tiny_sd_dir) -> None:
    with pytest.raises(ValueError, match="resolve the seed"):
        engine.generate(request(tiny_sd_dir, seed=-1))


def test_components_summary_and_model_hash_of_a_folder(engine, tiny_sd_dir) -> None:
    summary = engine.components_summary()
    assert summary["unet"].startswith("UNet2DConditionModel (")
    assert set(summary) >= {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}
    # The folder hash depends on the weights only, not on where the folder is.
    assert engine.model_hash == DiffusersEngine(str(tiny_sd_dir)).model_hash
