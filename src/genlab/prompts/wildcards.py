"""Wildcards: `{a|b|c}` choices and `__name__` lines from text files, chosen by seed.

`expand(text, seed)` reads the prompt left to right and makes every choice from one
`random.Random(seed)` in the order it meets them, so the same text, seed and files always
give the same prompt, and image i of a batch (seed s + i) matches a single run with that
seed. Options that are not chosen are never read, so they draw no random numbers.

- `{a|b|c}` picks one option; options may nest (`{a|{b|c}}`) and may be empty (`{|x}`).
- `__name__` picks a non-empty line of `name.txt` that does not start with `#`; names may
  hold folders (`__colors/warm__` reads `colors/warm.txt`). The chosen line is expanded
  again, so files may refer to other files, up to MAX_DEPTH levels.
- A backslash keeps the next character from being read as wildcard syntax; the pair is
  copied through unchanged so the weighting parser still sees its own escapes (`\\(`).
- A `{` without a matching `}` is literal text.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from pathlib import Path

from genlab.core.errors import GenlabError

ENV_VAR = "GENLAB_WILDCARDS"
# Deep enough for files that build on each other, shallow enough to stop a cycle quickly.
MAX_DEPTH = 16

# Folder segments of letters, digits, `_` and `-`: no dots, so a name cannot leave its folder.
_NAME_RE = re.compile(r"__([A-Za-z0-9][\w\-]*?(?:/[\w\-]+?)*?)__")


class WildcardError(GenlabError):
    """A wildcard names a missing or empty file, or wildcards nest too deep (a cycle)."""


def default_dirs() -> list[Path]:
    """Folders from $GENLAB_WILDCARDS (os.pathsep-separated), else ./wildcards if present."""
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    local = Path("wildcards")
    return [local] if local.is_dir() else []


def has_wildcards(text: str) -> bool:
    """Whether `expand` would change anything: a closed `{...}` group or a `__name__`."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if (c == "{" and _split_group(text, i) is not None) or _NAME_RE.match(text, i):
            return True
        i += 1
    return False


def expand(text: str, seed: int, *, dirs: Sequence[Path] | None = None) -> str:
    """Resolve every `{a|b}` choice and `__name__` wildcard in `text`, drawing from `seed`."""
    if not has_wildcards(text):
        return text
    folders = list(default_dirs() if dirs is None else dirs)
    return _Expander(random.Random(seed), folders).run(text, chain=())


class _Expander:
    def __init__(self, rng: random.Random, folders: list[Path]):
        self.rng = rng
        self.folders = folders
        self._lines: dict[str, list[str]] = {}  # a file is read once per expand()

    def run(self, text: str, chain: tuple[str, ...]) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            c = text[i]
            if c == "\\":
                out.append(text[i : i + 2])
                i += 2
                continue
            if c == "{":
                group = _split_group(text, i)
                if group is not None:
                    options, end = group
                    out.append(self.run(options[self.rng.randrange(len(options))], chain))
                    i = end
                    continue
            m = _NAME_RE.match(text, i)
            if m:
                out.append(self._wildcard(m.group(1), chain))
                i = m.end()
                continue
            out.append(c)
            i += 1
        return "".join(out)

    def _wildcard(self, name: str, chain: tuple[str, ...]) -> str:
        chain = (*chain, name)
        if len(chain) > MAX_DEPTH:
            path = " -> ".join(f"__{n}__" for n in chain)
            raise WildcardError(
                f"wildcards nest deeper than {MAX_DEPTH} levels ({path}); "
                "a wildcard file must not refer back to itself without an exit"
            )
        lines = self._read(name)
        return self.run(lines[self.rng.randrange(len(lines))], chain)

    def _read(self, name: str) -> list[str]:
        if name in self._lines:
            return self._lines[name]
        rel = Path(*name.split("/")).with_suffix(".txt")
        for folder in self.folders:
            path = folder / rel
            if path.is_file():
                lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
                lines = [ln for ln in lines if ln and not ln.startswith("#")]
                if not lines:
                    raise WildcardError(
                        f"wildcard __{name}__: {path} has no lines to choose from "
                        "(empty lines and lines starting with # are skipped)"
                    )
                self._lines[name] = lines
                return lines
        searched = ", ".join(str(f) for f in self.folders) or f"none (set {ENV_VAR})"
        raise WildcardError(
            f"wildcard __{name}__ not found: no {rel.as_posix()} in folders searched: {searched}"
        )


def _split_group(text: str, start: int) -> tuple[list[str], int] | None:
    """Options of the `{...}` group opening at `start` and the index after its `}`, or None."""
    depth = 0
    options: list[str] = []
    piece_start = start + 1
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                options.append(text[piece_start:i])
                return options, i + 1
        elif c == "|" and depth == 1:
            options.append(text[piece_start:i])
            piece_start = i + 1
        i += 1
    return None
