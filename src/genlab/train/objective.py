"""What the denoiser learns to predict, matched to the scheduler that will sample it.

- Flow matching (genlab's own models, and any flow-sigma scheduler config): images
  and noise are joined by straight lines x_t = (1 − σ)·x₀ + σ·ε; the model predicts
  the velocity ε − x₀ at timestep 1000·σ. σ is drawn logit-normal (mass in the middle,
  where the image's layout is decided), then shifted as the scheduler shifts it.
- Epsilon / v-prediction (SD 1.x/2.x checkpoints being fine-tuned): the model's own
  DDPM noise schedule, uniform timesteps, target ε or v.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from genlab.engines.schedulers import is_flow_model


class Objective:
    def __init__(self, scheduler_config: Mapping[str, Any]):
        self.flow = is_flow_model(scheduler_config)
        self.prediction_type = (
            "flow_prediction" if self.flow else scheduler_config.get("prediction_type", "epsilon")
        )
        self.shift = float(scheduler_config.get("flow_shift", scheduler_config.get("shift", 1.0)))
        self.ddpm = None
        if not self.flow:
            from diffusers import DDPMScheduler

            self.ddpm = DDPMScheduler.from_config(dict(scheduler_config))
            if self.prediction_type not in ("epsilon", "v_prediction"):
                raise ValueError(f"cannot train prediction type {self.prediction_type!r}")

    def corrupt(
        self, x0: torch.Tensor, noise: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy input, timesteps for the UNet, training target), on x0's device.

        `generator` is a CPU generator (the run's only source of randomness, so its
        state is portable); what it draws is moved to x0's device."""
        n = x0.shape[0]
        if self.flow:
            u = torch.sigmoid(torch.randn(n, generator=generator))
            sigma = (self.shift * u / (1 + (self.shift - 1) * u)).to(x0.device)
            s = sigma.view(n, 1, 1, 1)
            return (1 - s) * x0 + s * noise, sigma * 1000, noise - x0
        assert self.ddpm is not None
        steps = self.ddpm.config.num_train_timesteps
        t = torch.randint(0, steps, (n,), generator=generator).to(x0.device)
        noisy = self.ddpm.add_noise(x0, noise, t)
        if self.prediction_type == "epsilon":
            return noisy, t, noise
        return noisy, t, self.ddpm.get_velocity(x0, noise, t)
