"""Prompt syntax: A1111 weights and BREAK, `{a|b}` and `__file__` wildcards.

Cheap to import: the weighted text embeddings live in `genlab.prompts.embeddings`, which
loads torch and is imported only by code that encodes prompts.
"""

from __future__ import annotations

from genlab.prompts.syntax import parse_weights, plain_text
from genlab.prompts.wildcards import WildcardError, expand, has_wildcards

__all__ = ["WildcardError", "expand", "has_wildcards", "parse_weights", "plain_text"]
