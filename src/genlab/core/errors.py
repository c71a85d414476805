"""genlab's error hierarchy.

Every error a user can cause derives from GenlabError and carries a one-line message
that names the problem and what is allowed; the CLI prints it and exits 2, the web
app turns it into a 4xx JSON body. Anything else escaping is a bug.
"""

from genlab.core.text import brief


class GenlabError(Exception):
    """Base for errors caused by input, files or models, not by genlab's own bugs."""


class InvalidRequest(GenlabError, ValueError):
    """A request field has a value outside what is allowed."""

    def __init__(self, field: str, value: object, allowed: str):
        self.field = field
        self.value = value
        self.allowed = allowed
        # The value is quoted short and printable: it may be a 1 MB prompt, an integer
        # of 2**70 or text with escape sequences, and the message goes to terminals,
        # logs and every job listing.
        super().__init__(f"{field}={brief(value)} is invalid: {allowed}")


class ModelLoadError(GenlabError):
    """A model source is missing, malformed, unsafe to load, or not a pipeline."""


class UnsupportedImage(GenlabError):
    """An input image (init image, mask, metadata source) cannot be used."""


class MetadataError(GenlabError):
    """An image carries no readable generation parameters."""


class EngineError(GenlabError):
    """An engine cannot honour a request (e.g. a sampler the model does not accept)."""
