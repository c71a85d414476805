from __future__ import annotations

from pathlib import Path

import pytest

from genlab.core.errors import GenlabError
from genlab.prompts import WildcardError, expand, has_wildcards


@pytest.fixture
def wild(tmp_path: Path) -> Path:
    (tmp_path / "colors").mkdir()
    (tmp_path / "colors" / "warm.txt").write_text("# warm colours\nred\n\n  orange  \n#pink\n")
    (tmp_path / "animal.txt").write_text("cat\ndog\n")
    (tmp_path / "scene.txt").write_text("a __colors/warm__ __animal__\n")
    (tmp_path / "loop.txt").write_text("again __loop__\n")
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    return tmp_path


def test_plain_prompt_unchanged() -> None:
    text = r"a (red:1.2) cat, \{not a choice\}, snake_case_word, [x]"
    assert not has_wildcards(text)
    assert expand(text, 0, dirs=[]) == text


def test_has_wildcards() -> None:
    assert has_wildcards("{a|b}")
    assert has_wildcards("a __animal__")
    assert has_wildcards("{only}")
    assert not has_wildcards("{unclosed")
    assert not has_wildcards(r"\{a|b\}")


def test_choices_are_deterministic_and_vary_with_seed() -> None:
    text = "{red|green|blue|yellow} {cat|dog|star} {a|b|c|d|e}"
    assert expand(text, 7, dirs=[]) == expand(text, 7, dirs=[])
    results = {expand(text, seed, dirs=[]) for seed in range(40)}
    assert len(results) > 10
    for result in results:
        color, animal, letter = result.split(" ")
        assert color in {"red", "green", "blue", "yellow"}
        assert animal in {"cat", "dog", "star"}
        assert letter in "abcde"


def test_batch_seed_matches_single_run() -> None:
    text = "{a|b|c} {d|e|f}"
    batch = [expand(text, 100 + i, dirs=[]) for i in range(4)]
    assert batch[2] == expand(text, 102, dirs=[])


def test_nested_choices() -> None:
    seen = {expand("{a|{b|c}}", seed, dirs=[]) for seed in range(60)}
    assert seen == {"a", "b", "c"}
    assert {expand("x{|y}", seed, dirs=[]) for seed in range(30)} == {"x", "xy"}


def test_escaped_and_unclosed_braces_stay_literal() -> None:
    assert expand(r"\{a|b\} {c}", 0, dirs=[]) == r"\{a|b\} c"
    assert expand("{a|b", 0, dirs=[]) == "{a|b"
    assert expand("{a|{b}", 0, dirs=[]) == "{a|b"


def test_file_wildcards_with_subfolders_and_comments(wild: Path) -> None:
    seen = {expand("__colors/warm__", seed, dirs=[wild]) for seed in range(40)}
    assert seen == {"red", "orange"}
    scenes = {expand("__scene__", seed, dirs=[wild]) for seed in range(40)}
    assert scenes == {f"a {c} {a}" for c in ("red", "orange") for a in ("cat", "dog")}


def test_choice_inside_wildcard_and_back(wild: Path) -> None:
    (wild / "mixed.txt").write_text("{big|small} __animal__\n")
    out = expand("{__mixed__|none}", 3, dirs=[wild])
    assert out == expand("{__mixed__|none}", 3, dirs=[wild])
    assert out == "none" or out.split(" ")[1] in {"cat", "dog"}


def test_first_folder_wins(wild: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    (other / "animal.txt").write_text("fox\n")
    assert expand("__animal__", 0, dirs=[other, wild]) == "fox"


def test_env_var_folders(wild: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENLAB_WILDCARDS", str(wild))
    assert expand("__colors/warm__", 1) in {"red", "orange"}


def test_missing_file_names_wildcard_and_folders(wild: Path) -> None:
    with pytest.raises(WildcardError) as info:
        expand("a __nope/thing__", 0, dirs=[wild])
    message = str(info.value)
    assert "__nope/thing__" in message and str(wild) in message and "\n" not in message
    assert isinstance(info.value, GenlabError)


def test_empty_file_is_an_error(wild: Path) -> None:
    with pytest.raises(WildcardError, match="__empty__"):
        expand("__empty__", 0, dirs=[wild])


def test_cycle_is_a_clear_error(wild: Path) -> None:
    with pytest.raises(WildcardError, match="nest deeper") as info:
        expand("__loop__", 0, dirs=[wild])
    assert "__loop__ -> __loop__" in str(info.value)


def test_dots_cannot_leave_the_folder(wild: Path) -> None:
    # `..` is not a wildcard name, so nothing is read and the text stays.
    assert expand("__../animal__", 0, dirs=[wild / "colors"]) == "__../animal__"
