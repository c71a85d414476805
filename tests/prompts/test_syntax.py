from __future__ import annotations

import pytest

from genlab.prompts import parse_weights, plain_text

W = 1.1
# Inputs and fragment lists as A1111's attention parser gives them.
CASES = [
    ("", [("", 1.0)]),
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", W), (" word", 1.0)]),
    ("((a))", [("a", W * W)]),
    ("[a]", [("a", 1 / W)]),
    ("[[a]]", [("a", 1 / W / W)]),
    ("(a:1.3)", [("a", 1.3)]),
    ("(a:0.5) b", [("a", 0.5), (" b", 1.0)]),
    ("(a: .5 )", [("a", 0.5)]),
    ("((a:1.5))", [("a", 1.5 * W)]),
    ("([a])", [("a", 1.0)]),
    ("(a [b])", [("a ", W), ("b", 1.0)]),
    ("(unbalanced", [("unbalanced", W)]),
    ("[open (both", [("open ", 1 / W), ("both", 1.0)]),
    ("a) b]", [("a) b]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", W)]),
    (r"\(literal\]", [("(literal]", 1.0)]),
    (r"\[x\) \\ y", [("[x) \\ y", 1.0)]),
    (r"(a\)b)", [("a)b", W)]),
    (r"a\b", [("ab", 1.0)]),
    ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
    ("(a BREAK b)", [("a", W), ("BREAK", -1.0), ("b", W)]),
    ("BREAK a", [("BREAK", -1.0), ("a", 1.0)]),
    ("a break b", [("a break b", 1.0)]),
    ("aBREAK b", [("aBREAK b", 1.0)]),
    ("a: b", [("a: b", 1.0)]),
    ("(a:1.2.3)", [("a:1.2.3", W)]),
    ("(a:x)", [("a:x", W)]),
    ("a:1.5)", [("a:1.5)", 1.0)]),
    # Not interpreted, but harmless: prompt editing and AND stay text.
    ("[cat:dog:0.5]", [("cat:dog:0.5", 1 / W)]),
    ("a cat AND a dog", [("a cat AND a dog", 1.0)]),
    (
        "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
        [
            ("a ", 1.0),
            ("house", 1.3 * W * W),
            (" ", W),
            ("on", 1.0),
            (" a ", W),
            ("hill", 0.55),
            (", sun, ", W),
            ("sky", W**4),
            (".", W),
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_weights_matches_a1111(text: str, expected: list[tuple[str, float]]) -> None:
    got = parse_weights(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("an (important) word", "an important word"),
        ("a (((house:1.3)) [on] a hill", "a house on a hill"),
        ("a BREAK b", "a b"),
        ("a, BREAK b", "a, b"),
        (r"\(x\) \\", "(x) \\"),
        ("", ""),
    ],
)
def test_plain_text(text: str, expected: str) -> None:
    assert plain_text(text) == expected


def test_odd_input_does_not_crash() -> None:
    for text in ["(((", ")))", "]]][[[", "(:)", "(:1.2:3)", "\\", "((a:b:c:1.1)", "{a|b}"]:
        frags = parse_weights(text)
        assert frags and all(isinstance(t, str) and isinstance(w, float) for t, w in frags)
