"""A1111 sampler and schedule-type names → diffusers schedulers.

A scheduler is always rebuilt from the model's own scheduler config
(`cls.from_config(config, **overrides)`), so betas, prediction type and timestep
offsets stay what the model was trained with; only the sampling method and the
sigma spacing change. A combination is offered only when the scheduler class
really has the switch (e.g. DDIM has no `use_karras_sigmas`).

Configs passed here should carry `_class_name` (the model's own scheduler class):
a pipeline's `scheduler.config` does not, so use `scheduler_config(pipe.scheduler)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import cache
from typing import Any

from genlab.core.errors import EngineError
from genlab.core.samplers import SAMPLERS, SCHEDULES

# sampler → (diffusers class name, fixed config overrides)
SAMPLER_CLASSES: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    # A1111's DPM++ SDE is a stochastic single-step solver; diffusers' closest
    # without the optional torchsde dependency is DPMSolverSinglestep (projects differ).
    "DPM++ SDE": ("DPMSolverSinglestepScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    # A1111's PLMS is the pseudo linear multistep method; diffusers' PNDM runs it with
    # its Runge-Kutta warm-up skipped, as Stable Diffusion's own configs do.
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}
assert set(SAMPLER_CLASSES) == set(SAMPLERS)

_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")
# schedule → overrides. "Automatic" keeps the model's config as it is; "Uniform"
# keeps its timestep spacing but switches every special sigma spacing off.
SCHEDULE_OVERRIDES: dict[str, dict[str, Any]] = {
    "Automatic": {},
    "Uniform": {},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
    "SGM Uniform": {"timestep_spacing": "trailing"},
    "Beta": {"use_beta_sigmas": True},
}
assert set(SCHEDULE_OVERRIDES) == set(SCHEDULES)

# Flow-matching models predict a velocity along straight noise→data paths; they need
# solvers that understand flow sigmas. In an SD pipeline these two do (the UNet then
# sees t = sigma * 1000); FlowMatchEuler itself lacks `init_noise_sigma` there, and
# the k-diffusion family would sample garbage. Their flow branch ignores spacing
# switches, so only "Automatic" is offered.
FLOW_SAMPLERS = ("DPM++ 2M", "UniPC")
FLOW_OVERRIDES: dict[str, Any] = {
    "use_flow_sigmas": True,
    "prediction_type": "flow_prediction",
    # SD pipelines never pass the `mu` that dynamic shifting needs at set_timesteps.
    "use_dynamic_shifting": False,
}


def scheduler_config(scheduler: Any) -> dict[str, Any]:
    """A scheduler's config with its class name, as `accepted_samplers` expects."""
    return {**dict(scheduler.config), "_class_name": type(scheduler).__name__}


def is_flow_model(config: Mapping[str, Any]) -> bool:
    return (
        bool(config.get("use_flow_sigmas"))
        or config.get("prediction_type") == "flow_prediction"
        or str(config.get("_class_name", "")).startswith("FlowMatch")
    )


def _scheduler_class(name: str) -> type:
    import diffusers

    return getattr(diffusers, name)


@cache
def _params(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.__init__).parameters)


def _overrides(cls: type, schedule: str) -> dict[str, Any] | None:
    """The config changes for `schedule` on `cls`, or None when `cls` cannot do it."""
    wanted = SCHEDULE_OVERRIDES[schedule]
    params = _params(cls)
    if not set(wanted) <= params:
        return None
    if schedule == "Automatic":
        return {}
    # Sigma spacings exclude each other (diffusers refuses two at once).
    off = {flag: False for flag in _SIGMA_FLAGS if flag in params}
    return {**off, **wanted}


def accepted_samplers(config: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(sampler, [schedule types]) a model with this scheduler config accepts."""
    if is_flow_model(config):
        return [(name, ["Automatic"]) for name in FLOW_SAMPLERS]
    accepted = []
    for sampler, (class_name, _) in SAMPLER_CLASSES.items():
        cls = _scheduler_class(class_name)
        schedules = [s for s in SCHEDULE_OVERRIDES if _overrides(cls, s) is not None]
        accepted.append((sampler, schedules))
    return accepted


def make_scheduler(config: Mapping[str, Any], sampler: str, schedule: str) -> Any:
    """A diffusers scheduler for this model's config, or EngineError naming what works."""
    accepted = dict(accepted_samplers(config))
    if sampler not in accepted:
        kind = "a flow-matching model" if is_flow_model(config) else "this model"
        raise EngineError(
            f"sampler {sampler!r} does not work with {kind}; accepted: {', '.join(accepted)}"
        )
    if schedule not in accepted[sampler]:
        raise EngineError(
            f"schedule type {schedule!r} is not available with sampler {sampler!r}; "
            f"accepted: {', '.join(accepted[sampler])}"
        )
    class_name, fixed = SAMPLER_CLASSES[sampler]
    cls = _scheduler_class(class_name)
    overrides = {**fixed, **(_overrides(cls, schedule) or {})}
    if is_flow_model(config):
        overrides.update(FLOW_OVERRIDES)
        # FlowMatch schedulers call the sigma shift `shift`; the multistep solvers
        # `flow_shift`. A FlowMatch config may carry a stale `flow_shift` of another class.
        flow_match = str(config.get("_class_name", "")).startswith("FlowMatch")
        shift_key = "shift" if flow_match else "flow_shift"
        overrides["flow_shift"] = config.get(shift_key, 1.0)
    config = {k: v for k, v in config.items() if k not in ("_class_name", "_diffusers_version")}
    return cls.from_config(config, **overrides)
