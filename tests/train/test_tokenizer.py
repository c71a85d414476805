from __future__ import annotations

from pathlib import Path

import pytest
from transformers import CLIPTokenizer

from genlab.train.tokenizer import write_tokenizer_files
from genlab.world.vocab import vocabulary


def test_world_words_are_single_tokens_and_others_split_into_characters(tmp_path: Path) -> None:
    write_tokenizer_files(tmp_path, vocabulary())
    tokenizer = CLIPTokenizer.from_pretrained(str(tmp_path))
    assert tokenizer.tokenize("two small yellow stars above a hexagon") == [
        "two</w>",
        "small</w>",
        "yellow</w>",
        "stars</w>",
        "above</w>",
        "a</w>",
        "hexagon</w>",
    ]
    assert "".join(tokenizer.tokenize("dragon")) == "dragon</w>"
    assert tokenizer.unk_token_id not in tokenizer("a dragon!").input_ids[1:-1]


def test_words_outside_the_alphabet_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside the tokenizer alphabet"):
        write_tokenizer_files(tmp_path, ["café"])
