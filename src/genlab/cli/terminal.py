"""What the CLI prints from files and stores, made safe for a terminal in one place.

A prompt, a file name or a JSON record can carry escape sequences (retitle the window,
move the cursor, hide text), bidi overrides, lone surrogates (which no encoder writes)
and rich markup (`[bold]`). Anything that did not come from genlab's own code goes
through `shown` (one line, markup escaped) or `shown_text` (newlines kept, for
printing with markup off) on its way to the console.
"""

from __future__ import annotations

from rich.markup import escape

from genlab.core.text import printable


def shown(value: object) -> str:
    """`value` as one printable line, its rich markup escaped."""
    return escape(printable(str(value), newlines=False))


def shown_text(text: str) -> str:
    """Multi-line text (A1111 parameters, JSON) printable; print it with markup=False."""
    return printable(text)
