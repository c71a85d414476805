"""AUTOMATIC1111's prompt editing, alternation and `AND`, as plain text per step.

- `[from:to:when]` uses `from` until step `when`, then `to`; `[to:when]` adds `to` at
  `when`; `[from::when]` removes `from` there. A `when` written with a `.` is a
  fraction of the steps (0.5 is half-way), one without is a step number (A1111's
  current rule; 1.0 is the last step, 10 the tenth).
- `[a|b|c]` alternates: a, b, c, a, … one option per step.
- `AND` (upper case, a word on its own) splits the prompt into clauses, each with an
  optional trailing `:weight`; the engine sums their guided predictions (composable
  diffusion). The negative prompt is never split.

Steps count as A1111 counts them: sampler step i (from 0) uses the first schedule
entry whose end step (from 1) is at least i, so the text switches one step later than
the number says and alternation shows the first option twice — kept, so that prompts
tuned in A1111 change where they changed there.

Anything that is not one of these constructs stays literal text for the weight parser
(`prompts.syntax`): emphasis `(x:1.2)` and `[x]`, a bracket that never closes, a
`when` that is not a number. Like A1111, a `|` outside square brackets makes the
whole prompt literal. Pure Python: the procedural engine reads prompts with it too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_AND = re.compile(r"\bAND\b")
_WEIGHT = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")
_NUMBER = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*")
# Deeper nesting than this is not a construct anyone writes; reading it literally keeps
# hostile prompts ("[[[[…") from exhausting the stack.
MAX_DEPTH = 32


class _NotAConstruct(Exception):
    """The bracket at hand does not open editing, alternation or emphasis."""


class _Literal(Exception):
    """The whole prompt is literal (a `|` outside square brackets)."""


@dataclass(frozen=True)
class _Edit:
    before: list  # nodes; empty for `[to:when]`
    after: list
    when: str  # as written: "." marks a fraction


@dataclass(frozen=True)
class _Alternate:
    options: list  # one node list per option


@dataclass(frozen=True)
class _Emphasis:
    open: str
    parts: list  # node lists, joined by ":"
    close: str


def split_and(prompt: str) -> list[tuple[str, float]]:
    """The clauses of a prompt and their weights: `a AND b:0.5` -> [("a ", 1), (" b", .5)]."""
    clauses = []
    for part in _AND.split(prompt):
        match = _WEIGHT.search(part)
        text, weight = match.groups() if match else (part, None)
        clauses.append((text, float(weight) if weight is not None else 1.0))
    return clauses


def has_schedule(text: str) -> bool:
    """Whether `text` has editing or alternation (cheap; exact only after parsing)."""
    return "[" in text and (":" in text or "|" in text) and bool(_nodes(text)[1])


def schedule(text: str, steps: int) -> list[tuple[int, str]]:
    """(end step, text) pairs: the text to use up to each end step (A1111's schedule)."""
    nodes, dynamic = _nodes(text)
    if not dynamic:
        return [(steps, text)]
    ends = {steps}
    _collect(nodes, steps, ends)
    return [(end, _render(nodes, steps, end)) for end in sorted(ends)]


def text_at(entries: list[tuple[int, str]], index: int) -> str:
    """The text for sampler step `index` (from 0), as A1111 picks it."""
    for end, text in entries:
        if index <= end:
            return text
    return entries[-1][1]


def reading(prompt: str) -> str:
    """One fixed text for engines without steps: the first `AND` clause, edits at their
    final text, alternations at their first option."""
    text = split_and(prompt)[0][0]
    nodes, dynamic = _nodes(text)
    return _render(nodes, None, 0) if dynamic else text


# -- parsing -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _nodes(text: str) -> tuple[list, bool]:
    """The parse tree and whether it holds editing or alternation. Cached: a batch
    reads the same prompt once per image, and the trees are never changed."""
    if "[" not in text or (":" not in text and "|" not in text):
        return [text], False  # no construct possible: skip the parse
    try:
        nodes = _Parser(text).top()
    except _Literal:
        return [text], False
    return nodes, _dynamic(nodes)


def _dynamic(nodes: list) -> bool:
    for node in nodes:
        if isinstance(node, (_Edit, _Alternate)):
            return True
        if isinstance(node, _Emphasis) and any(_dynamic(p) for p in node.parts):
            return True
    return False


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def top(self) -> list:
        nodes: list = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "|":
                raise _Literal
            if ch in "[(":
                start = self.pos
                try:
                    nodes.append(self._bracket(0))
                    continue
                except _NotAConstruct:
                    self.pos = start  # A1111's grammar reads a stray bracket as text
            if ch in "[]():":
                nodes.append(ch)
                self.pos += 1
            else:
                nodes.append(self._plain())
        return nodes

    def _plain(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "[]():|":
            # An escape keeps the next character, and its backslash for the weight parser.
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        self.pos = min(self.pos, len(self.text))
        return self.text[start : self.pos]

    def _seq(self, depth: int) -> list:
        """Nodes up to (not including) the next `:` `]` `)` or `|` at this level."""
        nodes: list = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in ":])|":
                return nodes
            nodes.append(self._bracket(depth + 1) if ch in "[(" else self._plain())
        raise _NotAConstruct  # ran off the end: the bracket never closed

    def _take(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def _bracket(self, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise _NotAConstruct
        if self._take() == "(":
            parts = [self._seq(depth)]
            if self._take() == ":":
                parts.append(self._seq(depth))
                if self._take() != ")":
                    raise _NotAConstruct
            elif self.text[self.pos - 1] != ")":
                raise _NotAConstruct
            return _Emphasis("(", parts, ")")
        first = self._seq(depth)
        sep = self._take()
        if sep == "]":
            return _Emphasis("[", [first], "]")
        if sep == "|":
            options = [first]
            while True:
                options.append(self._seq(depth))
                sep = self._take()
                if sep == "]":
                    return _Alternate(options)
                if sep != "|":
                    raise _NotAConstruct
        if sep != ":":
            raise _NotAConstruct
        second = self._seq(depth)
        sep = self._take()
        if sep == "]":  # [to:when]
            return _Edit([], first, _number(second))
        if sep != ":":
            raise _NotAConstruct
        third = self._seq(depth)
        if self._take() != "]":
            raise _NotAConstruct
        return _Edit(first, second, _number(third))


def _number(nodes: list) -> str:
    text = "".join(n for n in nodes if isinstance(n, str)) if len(nodes) <= 1 else ""
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise _NotAConstruct
    return match.group(1)


# -- schedules ---------------------------------------------------------------------------


def _end_step(when: str, steps: int) -> int:
    value = float(when) * steps if "." in when else float(when)
    return int(min(steps, value))


def _collect(nodes: list, steps: int, ends: set[int]) -> None:
    for node in nodes:
        if isinstance(node, _Edit):
            end = _end_step(node.when, steps)
            if end >= 1:
                ends.add(end)
            _collect(node.before, steps, ends)
            _collect(node.after, steps, ends)
        elif isinstance(node, _Alternate):
            ends.update(range(1, steps + 1))
            for option in node.options:
                _collect(option, steps, ends)
        elif isinstance(node, _Emphasis):
            for part in node.parts:
                _collect(part, steps, ends)


def _render(nodes: list, steps: int | None, step: int) -> str:
    """The text at `step` (from 1); with `steps` None, the fixed reading."""
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Edit):
            use_before = steps is not None and step <= _end_step(node.when, steps)
            out.append(_render(node.before if use_before else node.after, steps, step))
        elif isinstance(node, _Alternate):
            option = 0 if steps is None else (step - 1) % len(node.options)
            out.append(_render(node.options[option], steps, step))
        else:
            inner = ":".join(_render(part, steps, step) for part in node.parts)
            out.append(f"{node.open}{inner}{node.close}")
    return "".join(out)
