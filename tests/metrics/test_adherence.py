"""The prompt-adherence benchmark: prompts, judging, summary, and end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from genlab.cli.main import app
from genlab.core.errors import InvalidRequest
from genlab.metrics.adherence import CATEGORIES, evaluate, judge, prompt_set, summarise
from genlab.world.dataset import HELD_OUT_PAIRS
from genlab.world.detect import DetectedObject, Detection


def found(*objects: tuple, background="white", lighting="noon") -> Detection:
    return Detection(
        objects=tuple(DetectedObject(s, c, z, x, y, 1.0) for s, c, z, x, y in objects),
        background=background,
        lighting=lighting,
        monochrome=False,
    )


def test_prompt_set_covers_every_category_with_held_out_combinations() -> None:
    prompts = prompt_set()
    assert {p.category for p in prompts} == set(CATEGORIES)
    colours = [p.prompt for p in prompts if p.category == "colours"]
    assert sorted(colours) == sorted(f"a {c} {s}" for c, s in HELD_OUT_PAIRS)
    assert "a circle above a square" in [p.prompt for p in prompts]


def test_judge_checks_count_shape_colour_relation_and_setting() -> None:
    red_triangle = ("triangle", "red", "medium", 0.5, 0.5)
    assert judge("a red triangle", found(red_triangle))
    assert not judge("a red triangle", found(("triangle", "blue", "medium", 0.5, 0.5)))
    assert not judge("a red triangle", found(red_triangle, ("star", "red", "small", 0.1, 0.1)))
    above = found(("circle", "red", "small", 0.5, 0.2), ("square", "blue", "small", 0.5, 0.8))
    assert judge("a circle above a square", above)
    assert not judge("a square above a circle", above)
    assert judge("a square below a circle", above)
    assert judge(
        "two circles",
        found(("circle", "red", "small", 0.2, 0.5), ("circle", "blue", "large", 0.7, 0.5)),
    )
    heart = ("heart", "pink", "large", 0.5, 0.5)
    assert judge(
        "a heart on a green background at night", found(heart, background="green", lighting="night")
    )
    assert not judge("a heart on a green background at night", found(heart, background="green"))


def test_summary_intervals() -> None:
    results = [("colours", "a", (True,) * 4), ("colours", "b", (False, True, True, True))]
    results += [("counting", "c", (False,) * 4)]
    report = summarise("m", 4, results)
    counting, colours = report.categories
    assert colours.accuracy == 7 / 8 and colours.low <= 0.875 <= colours.high
    assert (counting.accuracy, counting.low, counting.high) == (0.0, 0.0, 0.0)
    assert report.overall == (7 / 8 + 0) / 2


def test_procedural_engine_is_the_ceiling_and_blank_images_the_floor() -> None:
    from genlab import GenerationRequest
    from genlab.services.generation import generate

    subset = [p for p in prompt_set() if p.category in ("colours", "position", "counting")][::3]

    def procedural(prompt: str, n: int):
        return list(generate(GenerationRequest(prompt, seed=0, batch_size=n)).images)

    ceiling = evaluate("procedural", procedural, images_per_prompt=2, prompts=subset)
    assert ceiling.overall >= 0.9
    blank = evaluate(
        "blank", lambda p, n: [Image.new("RGB", (64, 64), "white")] * n, prompts=subset
    )
    assert blank.overall == 0.0


def test_cli_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "adherence.json"
    result = CliRunner().invoke(
        app, ["eval", "adherence", "-n", "1", "--json", str(out)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["categories"]) == set(CATEGORIES)
    assert data["overall"]["accuracy"] > 0.9
    assert "overall" in result.output


def test_judge_accepts_any_shape_the_detector_found_tied() -> None:
    tied = Detection(
        objects=(DetectedObject("circle", "pink", "small", 0.5, 0.5, 0.9, ("circle", "hexagon")),),
        background="white",
        lighting="noon",
        monochrome=False,
    )
    assert judge("a pink hexagon", tied) and judge("a pink circle", tied)
    assert not judge("a pink square", tied)


def test_reports_name_their_judge_and_refuse_unknown_ones() -> None:
    subset = prompt_set()[:2]

    def white(prompt: str, n: int) -> list[Image.Image]:
        drawn.append(prompt)
        return [Image.new("RGB", (64, 64), "white")] * n

    drawn: list[str] = []
    new = evaluate("blank", white, images_per_prompt=1, prompts=subset)
    assert new.to_dict()["tolerances"] == "v2"
    old = evaluate("blank", white, images_per_prompt=1, prompts=subset, tolerances="v1")
    assert old.tolerances == "v1" and "v1 tolerances" in old.to_dict()["judge"]
    drawn.clear()
    with pytest.raises(InvalidRequest, match="tolerances='v0' is invalid"):
        evaluate("blank", white, prompts=subset, tolerances="v0")
    assert drawn == []  # refused before any image is drawn
