"""AUTOMATIC1111 prompt weighting: `(word)`, `[word]`, `(word:1.3)`, escapes and BREAK.

The rules follow A1111's attention parser so prompts written for it weigh the same here:

- `(x)` multiplies the weight of x by 1.1, `[x]` divides it by 1.1, `(x:1.3)` multiplies
  it by 1.3; nesting multiplies (`((x))` is 1.21).
- `\\(` `\\)` `\\[` `\\]` `\\\\` give the literal character; any other backslash is dropped.
- A bracket left open is closed at the end of the prompt; a closer with nothing open is
  literal text, and so is a `:` that does not end in `number)`.
- `BREAK` (upper case, a word on its own) ends the current 75-token chunk.
- Neighbouring fragments of equal weight are merged.

Deliberate differences, all on inputs A1111 handles badly: BREAK inside brackets stays a
BREAK (A1111 scales its marker and then tokenizes the word "BREAK"); `(x:1.2.3)` reads the
`:1.2.3` as text and the `)` as a plain closer (A1111 raises); empty fragments are dropped.
Prompt editing `[from:to:when]` and `AND` composition are not interpreted: they come out
as literal text with the bracket weights applied.

Pure Python on purpose: engines without text encoders call `plain_text` and must not pay
for torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
BREAK = ("BREAK", -1.0)

# One token of the prompt per match, tried in order. The weight group only accepts a
# well-formed number, so `:1.2.3)` falls through to `:` + text + `)`.
_TOKEN_RE = re.compile(
    r"""
    \\[()\[\]\\]                              # escaped bracket or backslash
    | \\                                      # any other backslash: dropped
    | \(                                      # open round
    | \[                                      # open square
    | :\s*(?P<weight>[+-]?(?:\d+\.?\d*|\.\d+))\s*\)   # explicit weight closing a round
    | \)                                      # close round
    | \]                                      # close square
    | [^\\()\[\]:]+                           # plain text
    | :                                       # a colon that is not a weight
    """,
    re.VERBOSE,
)
# BREAK as a separate word; the spaces around it belong to the break, not the text.
_BREAK_RE = re.compile(r"\s*\bBREAK\b\s*")


@dataclass
class _Fragment:
    text: str
    weight: float
    is_break: bool = False


def parse_weights(text: str) -> list[tuple[str, float]]:
    """Split a prompt into (text, weight) fragments; a BREAK is the entry `("BREAK", -1.0)`.

    >>> parse_weights("an (important) word")
    [('an ', 1.0), ('important', 1.1), (' word', 1.0)]
    """
    return [BREAK if f.is_break else (f.text, f.weight) for f in parse_fragments(text)]


def plain_text(text: str) -> str:
    """The prompt as a reader sees it: brackets, weights and BREAK removed, escapes resolved."""
    out = ""
    pending_space = False
    for frag in parse_fragments(text):
        if frag.is_break:
            # BREAK swallowed the spaces around it; keep the words apart.
            pending_space = bool(out) and not out[-1].isspace()
            continue
        if pending_space and not frag.text[0].isspace():
            out += " "
        pending_space = False
        out += frag.text
    return out


def parse_fragments(text: str) -> list[_Fragment]:
    """The parser behind `parse_weights`, keeping BREAK as a flag rather than a magic weight."""
    res: list[_Fragment] = []
    round_open: list[int] = []  # index into res where each open "(" started
    square_open: list[int] = []

    def scale_from(start: int, factor: float) -> None:
        for frag in res[start:]:
            if not frag.is_break:
                frag.weight *= factor

    for m in _TOKEN_RE.finditer(text):
        tok = m.group(0)
        weight = m.group("weight")
        if tok.startswith("\\"):
            res.append(_Fragment(tok[1:], 1.0))
        elif tok == "(":
            round_open.append(len(res))
        elif tok == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            scale_from(round_open.pop(), float(weight))
        elif tok == ")" and round_open:
            scale_from(round_open.pop(), ROUND_MULTIPLIER)
        elif tok == "]" and square_open:
            scale_from(square_open.pop(), SQUARE_MULTIPLIER)
        else:
            # Plain text, or a closer/colon with nothing to close: literal.
            for i, part in enumerate(_BREAK_RE.split(tok)):
                if i > 0:
                    res.append(_Fragment("BREAK", -1.0, is_break=True))
                res.append(_Fragment(part, 1.0))

    # Unclosed brackets reach to the end of the prompt.
    for start in round_open:
        scale_from(start, ROUND_MULTIPLIER)
    for start in square_open:
        scale_from(start, SQUARE_MULTIPLIER)
    return _merge(res)


def _merge(res: list[_Fragment]) -> list[_Fragment]:
    merged: list[_Fragment] = []
    for frag in res:
        if not frag.is_break and not frag.text:
            continue
        last = merged[-1] if merged else None
        if (
            last is not None
            and not last.is_break
            and not frag.is_break
            and last.weight == frag.weight
        ):
            last.text += frag.text
        else:
            merged.append(frag)
    return merged or [_Fragment("", 1.0)]
