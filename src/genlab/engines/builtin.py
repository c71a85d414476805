"""The built-in model: a small text-to-image pipeline genlab trains and ships.

It *is* a diffusers pipeline folder inside the package (`genlab/models/builtin`), run
by the diffusers engine like any other; what this adds is its name, the settings it
was tuned for, and a warning for words it never saw in training (they still run: the
tokenizer splits them into pieces, which the model mostly ignores).
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from genlab.core.request import LoadOptions
from genlab.engines.diffusers_engine import DiffusersEngine

NAME = "builtin"
# The training captions' words, in the tokenizer folder (the trainer writes it).
WORDS_FILE = "words.txt"
_WORD = re.compile(r"[a-z]+")


def builtin_folder() -> Path:
    return Path(str(resources.files("genlab") / "models" / "builtin"))


class BuiltinEngine(DiffusersEngine):
    name = NAME

    def __init__(self, options: LoadOptions | None = None, **kwargs: Any):
        super().__init__(str(builtin_folder()), options, **kwargs)
        self.model = NAME

    @cached_property
    def known_words(self) -> frozenset[str]:
        """The words of the training captions (written by the trainer)."""
        path = builtin_folder() / "tokenizer" / WORDS_FILE
        return frozenset(path.read_text(encoding="utf-8").split())

    def unknown_words(self, prompt: str) -> list[str]:
        from genlab.prompts.syntax import plain_text

        words = _WORD.findall(plain_text(prompt).lower())
        return list(dict.fromkeys(w for w in words if w not in self.known_words))

    def _prompt_args(self, prompts, negatives, request, warnings) -> tuple[dict[str, Any], Any]:
        unknown = list(dict.fromkeys(w for p in prompts for w in self.unknown_words(p)))
        if unknown:
            warnings.append(
                f"words the built-in model never saw in training: {', '.join(unknown)} "
                "(it knows Shapes World's colours, shapes, sizes, positions, lighting, styles)"
            )
        return super()._prompt_args(prompts, negatives, request, warnings)
