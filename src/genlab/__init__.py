"""genlab: an image-generation lab.

Importing genlab is cheap on purpose: torch, diffusers and friends load only inside
the modules that need them (engines, metrics, transfer), never here.
"""

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import GenerationRequest, LoadOptions, LoraSpec
from genlab.core.result import GenerationResult, StepEvent
from genlab.core.version import __version__

__all__ = [
    "GenerationRequest",
    "GenerationResult",
    "GenlabError",
    "InvalidRequest",
    "LoadOptions",
    "LoraSpec",
    "StepEvent",
    "__version__",
]
