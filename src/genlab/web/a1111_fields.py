"""A1111 txt2img/img2img fields genlab does not apply, refused unless they hold a value
that changes nothing.

A1111 clients send many of these with their neutral defaults on every request, so the
neutral values pass; any other value would change A1111's images, and ignoring it
would hand back images the client did not ask for, so it is a 422 that says why.
"""

from __future__ import annotations

import math
from typing import Any

from genlab.core.errors import InvalidRequest

# field -> (values that change nothing, why another value cannot be honoured)
UNAPPLIED: dict[str, tuple[tuple[Any, ...], str]] = {
    "seed_resize_from_h": ((None, -1, 0), "resizing the seed's noise is not supported"),
    "seed_resize_from_w": ((None, -1, 0), "resizing the seed's noise is not supported"),
    # webuiapi sends eta 1.0: what ancestral samplers use here (DDIM runs with eta 0).
    "eta": ((None, 1), "the samplers' eta is fixed (1 for ancestral samplers)"),
    "s_churn": ((None, 0), "sampler noise settings are not supported; use 0"),
    "s_tmin": ((None, 0), "sampler noise settings are not supported; use 0"),
    "s_tmax": ((None, 0, math.inf), "sampler noise settings are not supported; leave it null"),
    "s_noise": ((None, 1), "sampler noise settings are not supported; use 1"),
    "s_min_uncond": ((None, 0), "negative-guidance skipping is not supported; use 0"),
    "refiner_checkpoint": ((None, "", "None"), "refiner models are not supported"),
    "refiner_switch_at": ((None, 0, 1), "refiner models are not supported"),
    "firstpass_image": ((None, ""), "a first-pass image for hires fix is not supported"),
    "alwayson_scripts": ((None, {}), "scripts and extensions are not supported"),
    "script_args": ((None, []), "scripts are not supported"),
    "resize_mode": ((None, 0), "only 0 (just resize) is supported for the init image"),
    "initial_noise_multiplier": ((None, 1), "the initial noise is not scaled; use 1"),
    "latent_mask": ((None, ""), "a separate latent mask is not supported; send `mask`"),
    # A1111 1.9 reads parameters from this text over the fields; genlab reads the fields.
    "infotext": ((None, ""), "send the parameters as fields (png-info parses an infotext)"),
}


MAX_DEPTH = 32  # nesting of any JSON value in a request; real clients use under 10


def check_depth(value: Any, field: str, max_depth: int = MAX_DEPTH) -> None:
    """InvalidRequest when `value` nests lists and objects deeper than `max_depth`:
    the answer echoes such values, and serialising a deep one fails (it would be a 500).
    Iterative, so a deep value cannot exhaust the stack here."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise InvalidRequest(field, "a deeply nested value", f"at most {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def refuse_unapplied(fields: dict[str, Any]) -> None:
    """InvalidRequest for the first field in UNAPPLIED holding a non-neutral value."""
    for name, (neutral, why) in UNAPPLIED.items():
        if name not in fields:
            continue
        value = fields[name]
        # True == 1 in Python; a boolean is never one of these numbers' neutral values.
        same = any(
            value == ok and isinstance(value, bool) == isinstance(ok, bool) for ok in neutral
        )
        if not same:
            allowed = ", ".join("null" if ok is None else repr(ok) for ok in neutral)
            raise InvalidRequest(name, value, f"{why} (allowed: {allowed})")
