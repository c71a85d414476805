from __future__ import annotations

import json
from collections import Counter

import pytest

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.data.attributes import Attributes
from genlab.data.audit import folder_items
from genlab.data.augment import count, make_plan, parse_by, prompt_for
from genlab.services.data import augment, augment_plan
from genlab.world.parse import parse_prompt


def one(colour: str, shape: str) -> Attributes:
    return Attributes("labels", ({"shape": shape, "colour": colour, "size": None},), {})


def test_uniform_plan_brings_every_present_combination_to_the_largest():
    items = [one("red", "circle")] * 7 + [one("blue", "star")] * 2 + [one("red", "star")]
    plan = make_plan(items, ("colour", "shape"))
    assert plan.add == {"blue star": 5, "red circle": 0, "red star": 6}
    assert plan.total == 11


def test_all_values_fills_absent_combinations_except_invisible_ones():
    items = [one("red", "circle")] * 2
    plan = make_plan(items, ("colour", "shape"), all_values=True)
    assert len(plan.add) == 72 and plan.add["blue star"] == 2 and plan.add["red circle"] == 0


def test_reference_plan_reaches_the_reference_shares_with_fewest_images():
    items = [one("red", "circle")] * 6 + [one("blue", "star")] * 1
    reference = [one("red", "circle")] * 1 + [one("blue", "star")] * 3 + [one("red", "star")]
    plan = make_plan(items, ("colour", "shape"), reference)
    # N = max(6 / 0.2, 1 / 0.6) = 30: 6 red circles, 18 blue stars, 6 red stars.
    assert plan.add == {"blue star": 17, "red circle": 0, "red star": 6}
    after = count(items, plan.by) + Counter(plan.add)
    assert {c: n / after.total() for c, n in after.items()} == pytest.approx(
        {"red circle": 0.2, "blue star": 0.6, "red star": 0.2}
    )


def test_combinations_the_reference_lacks_are_a_warning():
    items = [one("red", "circle"), one("green", "heart")]
    plan = make_plan(items, ("colour", "shape"), [one("red", "circle")])
    assert "cannot be removed" in plan.warnings[0] and plan.total == 0


def test_by_names_only_attributes_a_prompt_can_fix():
    assert parse_by(" colour, shape ,colour") == ("colour", "shape")
    for bad in ("", "count", "label:kind", "colour,mood"):
        with pytest.raises(InvalidRequest, match="--by"):
            parse_by(bad)


@pytest.mark.parametrize(
    "by, combination",
    [
        (("colour", "shape"), "red circle"),
        (
            ("size", "shape", "background", "lighting", "style"),
            "large star blue golden_hour watercolour",
        ),
    ],
)
def test_prompts_parse_back_to_exactly_the_combination(by, combination):
    spec = parse_prompt(prompt_for(by, combination)).scene_spec
    values = dict(zip(by, combination.split(" ")))
    assert len(spec.objects) == 1
    for name, value in values.items():
        got = getattr(spec.objects[0], name, None) or getattr(spec, name, None)
        assert got == value


def test_procedural_fill_balances_the_folder_and_resumes(shapes_folder, tmp_path):
    job = augment_plan(shapes_folder, by="colour,shape")
    out = tmp_path / "added"
    # An interrupted run: stop after 5 images, with half a row torn off.
    stop = RuntimeError("interrupted")

    def interrupt(done, total):
        if done == 5:
            raise stop

    with pytest.raises(RuntimeError):
        augment(job, out, on_image=interrupt)
    with (out / "metadata.jsonl").open("a") as rows:
        rows.write('{"file_name": "images/torn')
    written = augment(job, out)
    assert written == job.plan.total - 5
    _, before, _ = folder_items(shapes_folder)
    _, added, problems = folder_items(out)
    assert problems == [] and len(added) == job.plan.total
    after = count(before, job.plan.by) + count(added, job.plan.by)
    present = set(count(before, job.plan.by))
    assert len({after[c] for c in present}) == 1  # every present combination is equal
    assert set(after) == present
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert {"file_name", "text", "scene", "augment"} <= set(rows[0])
    assert augment(job, out) == 0  # finished: nothing more to draw


def test_classic_fill_uses_the_folders_own_images(shapes_folder, tmp_path):
    job = augment_plan(shapes_folder, by="size")
    out = tmp_path / "classic"
    written = augment(job, out, engine="classic")
    assert written == job.plan.total > 0
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert all(row["augmented_from"].startswith("images/") for row in rows)


def test_a_reference_that_is_not_a_folder_is_one_error(shapes_folder, tmp_path):
    with pytest.raises(GenlabError, match="--to must be"):
        augment_plan(shapes_folder, to=str(tmp_path / "nope"))


def test_label_columns_are_read_and_written_in_kind(tmp_path):
    import random

    from genlab.world.render import render
    from genlab.world.scene import Scene, ShapeObject

    folder = tmp_path / "labelled"
    (folder / "img").mkdir(parents=True)
    rows = []
    for i, (colour, shape) in enumerate([("red", "circle")] * 3 + [("blue", "star")]):
        scene = Scene((ShapeObject(shape, colour, "large", 0.5, 0.5),))
        render(scene, 16, 16, rng=random.Random(i)).save(folder / f"img/{i}.png")
        rows.append({"file_name": f"img/{i}.png", "colour": colour, "shape": shape, "split": "a"})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    job = augment_plan(folder)
    assert job.plan.add == {"blue star": 2, "red circle": 0}
    assert job.fields == ("colour", "shape", "split")
    augment(job, tmp_path / "out")
    lines = (tmp_path / "out/metadata.jsonl").read_text().splitlines()
    written = [json.loads(line) for line in lines]
    assert [(r["colour"], r["shape"]) for r in written] == [("blue", "star")] * 2
    (folder / "metadata.jsonl").write_text(json.dumps({"file_name": "img/0.png", "shape": "blob"}))
    _, items, problems = folder_items(folder)
    assert items == [] and "shape='blob' is invalid" in problems[0]
