"""A CLIP-style BPE tokenizer built from a closed word list, written as the usual
`vocab.json` + `merges.txt` pair so `CLIPTokenizer.from_pretrained` loads it.

Every listed word is one token (`red</w>`); any other word still tokenizes, into
characters and pieces of known words, so a prompt with unknown words runs (the caller
warns about them). BPE merges greedily by rank, so a single left-to-right merge path
per word is not enough: another word's merge can fire first and strand the pieces.
Instead every split of every substring of a known word is a merge; then whatever
order the merges fire in, adjacent pieces of a known word can always merge again,
until the whole word is one token. (A few thousand merges for Shapes World's words.)
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from pathlib import Path

SPECIAL = ("<|startoftext|>", "<|endoftext|>")
# Characters every prompt may contain; each exists as a token alone and word-final.
CHARACTERS = sorted(
    set(string.ascii_lowercase + string.digits + ".,:;!?'()[]{}|_-+*/\\\"#&%$@=<>~^`")
)


def write_tokenizer_files(folder: Path, words: Iterable[str]) -> Path:
    """Write `vocab.json` and `merges.txt` for `words` (lower-case, no spaces)."""
    words = sorted({w.lower() for w in words if w})
    for word in words:
        if not set(word) <= set(CHARACTERS):
            raise ValueError(f"word {word!r} has characters outside the tokenizer alphabet")
    tokens = [*SPECIAL, *CHARACTERS, *(c + "</w>" for c in CHARACTERS)]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    merges: dict[str, None] = {}  # ordered set
    for word in words:
        symbols = [*word[:-1], word[-1] + "</w>"]
        # Shorter substrings first: their merges rank higher, as BPE learns them.
        for length in range(2, len(symbols) + 1):
            for start in range(len(symbols) - length + 1):
                piece = symbols[start : start + length]
                for cut in range(1, length):
                    merges[f"{''.join(piece[:cut])} {''.join(piece[cut:])}"] = None
                vocab.setdefault("".join(piece), len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder
