"""A1111 sampler/schedule names → diffusers schedulers, from scheduler configs alone."""

from __future__ import annotations

import pytest

from genlab.core.errors import EngineError
from genlab.core.samplers import SAMPLERS
from genlab.engines.schedulers import (
    accepted_samplers,
    is_flow_model,
    make_scheduler,
    scheduler_config,
)

# The tiny pipeline's own scheduler config, as SD 1.x checkpoints have it.
SD_CONFIG = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
}


def test_every_sampler_is_offered_with_the_schedules_its_class_has() -> None:
    accepted = dict(accepted_samplers(SD_CONFIG))
    assert list(accepted) == list(SAMPLERS)
    assert accepted["DPM++ 2M"] == [
        "Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform", "Beta"
    ]  # fmt: skip
    assert accepted["DDIM"] == ["Automatic", "Uniform", "SGM Uniform"]  # no sigma switches
    assert "Karras" not in accepted["Euler a"]
    assert "SGM Uniform" not in accepted["DPM++ SDE"]  # DPMSolverSinglestep has no spacing


@pytest.mark.parametrize(
    ("sampler", "schedule", "cls", "expected"),
    [
        ("Euler", "Karras", "EulerDiscreteScheduler", {"use_karras_sigmas": True}),
        ("DPM++ 2M", "Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        (
            "DPM++ 2M SDE",
            "Exponential",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++", "use_exponential_sigmas": True},
        ),
        ("DPM++ SDE", "Beta", "DPMSolverSinglestepScheduler", {"use_beta_sigmas": True}),
        (
            "Euler a",
            "SGM Uniform",
            "EulerAncestralDiscreteScheduler",
            {"timestep_spacing": "trailing"},
        ),
        ("DPM2 a", "Automatic", "KDPM2AncestralDiscreteScheduler", {}),
        ("UniPC", "Uniform", "UniPCMultistepScheduler", {"use_karras_sigmas": False}),
        ("DDIM", "Automatic", "DDIMScheduler", {}),
        ("LMS", "Karras", "LMSDiscreteScheduler", {"use_karras_sigmas": True}),
        ("Heun", "Exponential", "HeunDiscreteScheduler", {"use_exponential_sigmas": True}),
        ("DPM2", "Karras", "KDPM2DiscreteScheduler", {"use_karras_sigmas": True}),
    ],
)
def test_scheduler_class_and_overrides_keep_the_model_config(sampler, schedule, cls, expected):
    scheduler = make_scheduler(SD_CONFIG, sampler, schedule)
    assert type(scheduler).__name__ == cls
    for key, value in expected.items():
        assert scheduler.config[key] == value, key
    # Betas and offsets are the model's own, whatever the sampler.
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.beta_end == 0.012
    assert scheduler.config.steps_offset == 1


def test_uniform_switches_special_spacings_off_and_automatic_keeps_them() -> None:
    karras_model = {**SD_CONFIG, "use_karras_sigmas": True}
    assert make_scheduler(karras_model, "DPM++ 2M", "Automatic").config.use_karras_sigmas
    assert not make_scheduler(karras_model, "DPM++ 2M", "Uniform").config.use_karras_sigmas
    exponential = make_scheduler(karras_model, "DPM++ 2M", "Exponential").config
    assert exponential.use_exponential_sigmas and not exponential.use_karras_sigmas


def test_every_accepted_combination_sets_timesteps() -> None:
    for sampler, schedules in accepted_samplers(SD_CONFIG):
        for schedule in schedules:
            scheduler = make_scheduler(SD_CONFIG, sampler, schedule)
            scheduler.set_timesteps(4)
            assert len(scheduler.timesteps) >= 4, (sampler, schedule)


def test_unknown_combination_lists_what_is_valid() -> None:
    with pytest.raises(
        EngineError,
        match=r"^schedule type 'Karras' is not available with sampler 'DDIM'; "
        r"accepted: Automatic, Uniform, SGM Uniform$",
    ):
        make_scheduler(SD_CONFIG, "DDIM", "Karras")
    with pytest.raises(EngineError, match=r"^sampler 'Nope' does not work with this model"):
        make_scheduler(SD_CONFIG, "Nope", "Automatic")


@pytest.mark.parametrize(
    "config",
    [
        {**SD_CONFIG, "use_flow_sigmas": True},
        {**SD_CONFIG, "prediction_type": "flow_prediction"},
        {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0},
    ],
)
def test_flow_models_accept_only_flow_capable_samplers(config) -> None:
    assert is_flow_model(config)
    assert accepted_samplers(config) == [("DPM++ 2M", ["Automatic"]), ("UniPC", ["Automatic"])]
    with pytest.raises(
        EngineError,
        match=r"^sampler 'Euler a' does not work with a flow-matching model; "
        r"accepted: DPM\+\+ 2M, UniPC$",
    ):
        make_scheduler(config, "Euler a", "Automatic")
    with pytest.raises(EngineError, match="'Karras' is not available with sampler 'UniPC'"):
        make_scheduler(config, "UniPC", "Karras")
    for sampler in ("DPM++ 2M", "UniPC"):
        scheduler = make_scheduler(config, sampler, "Automatic")
        assert scheduler.config.use_flow_sigmas is True
        assert scheduler.config.prediction_type == "flow_prediction"
        assert scheduler.config.flow_shift == config.get("shift", 1.0)


def test_scheduler_config_carries_the_class_name() -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler

    config = scheduler_config(FlowMatchEulerDiscreteScheduler(shift=2.0))
    assert config["_class_name"] == "FlowMatchEulerDiscreteScheduler"
    assert is_flow_model(config)
    assert not is_flow_model(SD_CONFIG)
