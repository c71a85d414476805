"""An exponential moving average of the trained weights, the weights that get saved.

Small diffusion models trained briefly are noisy step to step; the average samples
far cleaner images. The decay ramps up from 0 ((1 + n) / (10 + n)) so early averages
are not dominated by the random initialisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class EMA:
    def __init__(self, params: dict[str, torch.nn.Parameter], decay: float):
        self.params = params
        self.decay = decay
        self.updates = 0
        self.shadow = {name: p.detach().clone() for name, p in params.items()}

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, p in self.params.items():
            self.shadow[name].lerp_(p.detach(), 1 - decay)

    @contextmanager
    @torch.no_grad()
    def applied(self) -> Iterator[None]:
        """Swap the averaged weights in (for sampling or saving), then swap back."""
        saved = {name: p.detach().clone() for name, p in self.params.items()}
        for name, p in self.params.items():
            p.copy_(self.shadow[name])
        try:
            yield
        finally:
            for name, p in self.params.items():
                p.copy_(saved[name])

    def state_dict(self) -> dict:
        return {"updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
