"""genlab: an image-generation lab.

Importing genlab is cheap on purpose: torch, diffusers and friends load only inside
the modules that need them (engines, metrics, transfer), never here.
"""

__version__ = "0.1.0"

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.core.request import GenerationRequest, LoadOptions, LoraSpec
from genlab.core.result import GenerationResult, StepEvent

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
