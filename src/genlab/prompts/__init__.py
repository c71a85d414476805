"""Prompt syntax: A1111 weights and BREAK, `{a|b}` and `__file__` wildcards.

Plain text only, and cheap to import: turning a parsed prompt into weighted text
embeddings needs torch and a text encoder, so it lives with the engines
(`genlab.engines.embeddings`).
"""

from __future__ import annotations

from genlab.prompts.syntax import parse_weights, plain_text
from genlab.prompts.wildcards import WildcardError, expand, has_wildcards

__all__ = ["WildcardError", "expand", "has_wildcards", "parse_weights", "plain_text"]
