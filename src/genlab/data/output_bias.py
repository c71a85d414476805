"""Output bias: what a model draws when a prompt leaves an attribute open, against what
it was trained on.

For each prompt, the attributes it leaves open ("a shape" leaves shape, colour and
size open; "a red shape" only shape and size) are read from every image by the
Shapes World detector (genlab.world.detect) and pooled per attribute over prompts.
Each value's share gets a Wilson 95% interval, and the pooled counts are tested
against the training shares with a G-test (scipy's log-likelihood power divergence).
Monochrome images have no colour to read, so they add nothing to colour.
The training distribution is read from a folder's rows (`genlab data audit`'s
reader), or is uniform over the vocabulary, which is what Shapes World's balanced
training sets are built to be.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from genlab.core.errors import InvalidRequest
from genlab.data.attributes import VALUES, Attributes, distribution
from genlab.world.parse import parse_prompt

OPEN_OBJECT = ("shape", "colour", "size")
OPEN_SCENE = ("background", "lighting")


def open_attributes(prompt: str) -> tuple[list[str], list[str]]:
    """(object attributes, scene attributes) `prompt` leaves open; a prompt that names
    no object leaves every object attribute open."""
    try:
        spec = parse_prompt(prompt).scene_spec
    except InvalidRequest as err:
        raise InvalidRequest("prompt", prompt, f"not a Shapes World prompt ({err})") from None
    open_obj = [a for a in OPEN_OBJECT if all(getattr(o, a) is None for o in spec.objects)]
    open_scene = [a for a in OPEN_SCENE if getattr(spec, a) is None]
    return open_obj, open_scene


def tally(prompts: Sequence[str], images_for: Callable[[str], Sequence[Any]]) -> dict[str, Counter]:
    """Per open attribute, how often each value was detected in the images drawn."""
    from genlab.world.detect import detect

    counts: dict[str, Counter] = {}
    for prompt in prompts:
        open_obj, open_scene = open_attributes(prompt)
        for image in images_for(prompt):
            found = detect(image)
            for name in open_obj:
                values = [getattr(o, name) for o in found.objects]
                counts.setdefault(name, Counter()).update(v for v in values if v)
            for name in open_scene:
                value = getattr(found, name)
                if value:
                    counts.setdefault(name, Counter())[value] += 1
    return counts


def training_shares(items: Sequence[Attributes] | None, name: str) -> dict[str, float]:
    values = list(VALUES[name])
    if items is None:
        return {v: 1 / len(values) for v in values}
    counts = distribution(items, name)
    total = sum(counts.get(v, 0) for v in values)
    if not total:
        raise InvalidRequest("training", name, "the training folder states no value of it")
    return {v: counts.get(v, 0) / total for v in values}


def compare(counts: Counter, shares: dict[str, float]) -> dict[str, Any]:
    """Shares with Wilson intervals, and a G-test of the counts against `shares`.
    Values the training set never shows are pooled out of the test (their expected
    count is 0) and reported as `unseen` when the model draws them anyway."""
    from scipy import stats

    from genlab.lab.measure import wilson_interval

    n = sum(counts.values())
    seen = [v for v, s in shares.items() if s > 0]
    rows = {}
    for value in shares:
        low, high = wilson_interval(counts.get(value, 0), n) if n else (0.0, 1.0)
        rows[value] = {
            "count": counts.get(value, 0),
            "share": counts.get(value, 0) / n if n else 0.0,
            "ci": [low, high],
            "training": shares[value],
        }
    tested = sum(counts.get(v, 0) for v in seen)
    result: dict[str, Any] = {"n": n, "values": rows}
    result["unseen"] = {v: c for v, c in counts.items() if shares.get(v, 0) == 0}
    if tested and len(seen) > 1:
        observed = [counts.get(v, 0) for v in seen]
        total_share = sum(shares[v] for v in seen)
        expected = [tested * shares[v] / total_share for v in seen]
        g, _ = stats.power_divergence(observed, expected, lambda_="log-likelihood")
        # A perfect fit can round to a G of -1e-15, whose p scipy returns as nan.
        g = max(float(g), 0.0)
        dof = len(seen) - 1
        result["g_test"] = {"g": g, "dof": dof, "p": float(stats.chi2.sf(g, dof))}
    return result
