"""Engines: every generator behind one contract (see genlab.core.engine).

`load_engine(model)` picks the engine from the model string: a registered engine
name ("builtin", "procedural", "gan") runs that engine; a GAN folder runs the gan
engine; anything else is a diffusers model source (hub id, local pipeline folder,
single checkpoint file).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genlab.core.registry import Registry
from genlab.core.request import LoadOptions

if TYPE_CHECKING:
    from genlab.core.engine import Engine


def _procedural(model: str, options: LoadOptions) -> Engine:
    from genlab.engines.procedural import ProceduralEngine

    return ProceduralEngine()


def _builtin(model: str, options: LoadOptions) -> Engine:
    from genlab.engines.builtin import BuiltinEngine

    return BuiltinEngine(options)


def _gan(model: str, options: LoadOptions) -> Engine:
    from genlab.engines.gan import GanEngine

    return GanEngine(None if model == "gan" else Path(model), options)


def _diffusers(model: str, options: LoadOptions) -> Engine:
    from genlab.engines.diffusers_engine import DiffusersEngine

    return DiffusersEngine(model, options)


# Model names that select an engine directly; everything else goes to diffusers.
ENGINES = Registry(
    "engine",
    {
        "builtin": lambda: _builtin,
        "procedural": lambda: _procedural,
        "gan": lambda: _gan,
        "diffusers": lambda: _diffusers,
    },
)
# Aliases users may type for the engines above.
MODEL_ALIASES = {"shapes-world": "procedural", "builtin-shapes": "builtin"}
# Request settings a model was tuned for, used where the user sets nothing. The
# built-in model's come from benchmarks/builtin_speed.py (docs/models/builtin.md).
MODEL_DEFAULTS: dict[str, dict[str, object]] = {
    "builtin": {"steps": 8, "guidance_scale": 5.0, "sampler": "DPM++ 2M"},
}


def model_defaults(model: str) -> dict[str, object]:
    return dict(MODEL_DEFAULTS.get(MODEL_ALIASES.get(model, model), {}))


def engine_name_for(model: str) -> str:
    """The engine that runs `model` (cheap: no model is loaded)."""
    model = MODEL_ALIASES.get(model, model)
    if model in ENGINES and model != "diffusers":
        return model
    return "gan" if is_gan_folder(model) else "diffusers"


def is_gan_folder(model: str) -> bool:
    """A folder `genlab train gan` wrote: its config.json says model_type genlab-gan."""
    import json

    try:
        config = json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "genlab-gan"


def load_engine(model: str, options: LoadOptions | None = None) -> Engine:
    """Build the engine for `model`; raises ModelLoadError for a bad source."""
    options = options or LoadOptions()
    factory = ENGINES.get(engine_name_for(model))
    return factory(MODEL_ALIASES.get(model, model), options)
