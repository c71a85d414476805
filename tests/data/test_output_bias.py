from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from scipy import stats

from genlab.data.output_bias import compare, open_attributes, tally, training_shares
from genlab.world.parse import scene_from_prompt
from genlab.world.render import render


def test_open_attributes_are_what_the_prompt_leaves_unsaid():
    assert open_attributes("a shape") == (["shape", "colour", "size"], ["background", "lighting"])
    assert open_attributes("a red shape at night") == (["shape", "size"], ["background"])
    assert open_attributes("a large blue star on a white background") == ([], ["lighting"])


def test_g_test_is_scipys_and_unseen_values_are_reported():
    shares = {"a": 0.5, "b": 0.5, "c": 0.0}
    result = compare(Counter({"a": 30, "b": 10, "c": 2}), shares)
    g, p = stats.power_divergence([30, 10], [20, 20], lambda_="log-likelihood")
    assert result["g_test"]["g"] == pytest.approx(g) and result["g_test"]["p"] == pytest.approx(p)
    assert result["unseen"] == {"c": 2} and result["n"] == 42
    low, high = result["values"]["a"]["ci"]
    assert low < 30 / 42 < high


def renders(prompt_for_seed):
    def images_for(prompt):
        out = []
        for seed in range(12):
            rng = random.Random(seed)
            scene, _ = scene_from_prompt(prompt_for_seed(prompt, seed), rng)
            out.append(render(scene, 64, 64, rng=rng))
        return out

    return images_for


def test_a_model_that_always_draws_circles_fails_the_test():
    biased = tally(["a shape"], renders(lambda prompt, seed: "one circle"))
    result = compare(biased["shape"], training_shares(None, "shape"))
    assert result["values"]["circle"]["share"] > 0.9
    assert result["g_test"]["p"] < 1e-6


def test_a_model_that_draws_as_trained_passes_it():
    fair = tally(
        ["one shape"],
        renders(
            lambda prompt, seed: (
                f"one {'circle square triangle star heart hexagon'.split()[seed % 6]}"
            )
        ),
    )
    result = compare(fair["shape"], training_shares(None, "shape"))
    assert result["g_test"]["p"] > 0.05


def test_cli_audits_the_procedural_engine(tmp_path):
    from typer.testing import CliRunner

    from genlab.cli.main import app

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# open prompts\na shape\n\n")
    args = ["audit", "outputs", "--prompts", str(prompts), "--images", "4", "--size", "32"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out/output-bias.json").read_text())
    assert report["prompts"] == ["a shape"] and report["attributes"]["shape"]["n"] >= 4
    for content, needle in [
        (b"", "holds no prompt"),
        (b"\xff\xfe", "not UTF-8"),
        (b"a \x1b shape", "control"),
    ]:
        prompts.write_bytes(content)
        bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
        assert bad.exit_code == 2 and needle in bad.stderr and len(bad.stderr.splitlines()) == 1
