"""Sweep definitions and plans: cells, prompt variants, batching and every refusal."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from genlab.core.errors import GenlabError
from genlab.lab.axes import Axis
from genlab.lab.runner import run_sweep
from genlab.lab.sweep import (
    SweepDefinition,
    SweepError,
    batches,
    check_budget,
    definition_from,
    plan,
)

BASE = {"prompt": "a red circle, at night", "width": 64, "height": 64, "seed": 10}


def sweep(x=None, y=None, z=None, **fields):
    return definition_from({**BASE, **fields}, {"x": x, "y": y, "z": z})


def test_cells_run_z_outermost_then_rows_then_columns() -> None:
    planned = plan(sweep("seed=1-3", "guidance_scale=3,7.5", "steps=10,20"))
    assert planned.shape == (3, 2, 2)
    assert len(planned) == 12
    first, second, fourth = planned.cells[0], planned.cells[1], planned.cells[3]
    assert (first.position, second.position, fourth.position) == ((0, 0, 0), (1, 0, 0), (0, 1, 0))
    assert fourth.labels == ("1", "7.5", "10")
    assert fourth.request.guidance_scale == 7.5 and fourth.request.steps == 10
    assert planned.cells[-1].request.seed == 3 and planned.cells[-1].request.steps == 20
    assert [a.title for a in planned.axes] == ["seed", "guidance_scale", "steps"]


def test_unused_axes_count_as_one_cell_without_a_title() -> None:
    planned = plan(sweep("seed=4,5"))
    assert planned.shape == (2, 1, 1)
    assert planned.axes[1].title == ""
    assert planned.describe(planned.cells[1]) == "x=5"


def test_ranges_sizes_and_quoted_values() -> None:
    assert plan(sweep("seed=1-9 (+4)")).axes[0].labels == ("1", "5", "9")
    floats = plan(sweep("guidance_scale=1-2 (+0.5)"))
    assert [c.request.guidance_scale for c in floats.cells] == [1.0, 1.5, 2.0]
    sizes = plan(sweep("size=64x64,32x48"))
    assert [(c.request.width, c.request.height) for c in sizes.cells] == [(64, 64), (32, 48)]
    quoted = plan(sweep('negative_prompt="blurry, dark",'))
    assert [c.request.negative_prompt for c in quoted.cells] == ["blurry, dark", ""]
    assert quoted.axes[0].labels == ("blurry, dark", "(empty)")


@pytest.mark.parametrize(
    "text",
    ["seed=1-300", "seed=1,2,3,7,9-11,-1", "steps=5,abc", "size=64x64,32x48", 'sr="a, b",c'],
)
def test_axis_text_reads_back_as_the_same_axis(text: str) -> None:
    axis = Axis.parse(text)
    assert Axis.parse(axis.spec()) == axis
    assert Axis.from_dict(axis.to_dict()) == axis


def test_prompt_search_replace_keeps_the_first_cell_unchanged() -> None:
    planned = plan(sweep("sr=red,blue,green", negative_prompt="red blur"))
    prompts = [c.request.prompt for c in planned.cells]
    assert prompts == [
        "a red circle, at night",
        "a blue circle, at night",
        "a green circle, at night",
    ]
    assert planned.cells[1].request.negative_prompt == "blue blur"  # as A1111: both prompts


def test_descriptor_axis_removes_the_set_then_adds_each_descriptor() -> None:
    planned = plan(sweep("descriptors=lighting"))
    prompts = [c.request.prompt for c in planned.cells]
    assert planned.axes[0].labels[:3] == ("no lighting", "at noon", "at golden hour")
    assert prompts[0] == "a red circle"  # "at night" belongs to the lighting set
    assert prompts[1] == "a red circle, at noon"
    assert "a red circle, at night" in prompts


def test_phrase_order_permutes_all_phrases_or_the_named_ones() -> None:
    planned = plan(sweep("order", prompt="a red circle, at night, watercolour style"))
    prompts = [c.request.prompt for c in planned.cells]
    assert len(prompts) == len(set(prompts)) == 6
    assert prompts[0] == "a red circle, at night, watercolour style"
    named = plan(sweep("order=at night,flat", prompt="a red circle, at night, flat"))
    assert [c.request.prompt for c in named.cells] == [
        "a red circle, at night, flat",
        "a red circle, flat, at night",
    ]


def test_density_appends_1_2_4_8_descriptors() -> None:
    planned = plan(sweep("density=colour", prompt="a red circle"))
    assert planned.axes[0].labels == ("1", "2", "4", "8")
    counts = [len(c.request.prompt.split(", ")) - 1 for c in planned.cells]
    assert counts == [1, 2, 4, 8]
    assert planned.cells[0].request.prompt == "a red circle, blue background"
    assert planned.cells[1].request.prompt == "a red circle, blue background, vibrant colours"


def test_density_never_stacks_contradicting_shapes_world_words(tmp_path: Path) -> None:
    planned = plan(sweep("density=lighting", prompt="a red circle, at night"))
    assert planned.cells[-1].request.prompt.count("at ") == 1  # no "at noon" beside "at night"
    stacked = sweep("density=style", "density=lighting", "density=colour", prompt="a red circle")
    outcome = run_sweep(stacked, tmp_path)
    assert outcome.generated == 64  # the procedural engine refuses two styles in one scene


def test_order_applies_before_the_other_prompt_edits() -> None:
    planned = plan(sweep("sr=red,blue", "order", prompt="a red circle, at night"))
    prompts = {c.labels[:2]: c.request.prompt for c in planned.cells}
    assert prompts[("blue", "at night, a red circle")] == "at night, a blue circle"


def test_model_defaults_fill_what_the_user_left_unset() -> None:
    planned = plan(sweep("model=procedural,builtin"))
    builtin = planned.cells[1].request
    assert builtin.model == "builtin" and builtin.steps == 8 and builtin.guidance_scale == 5.0
    pinned = plan(sweep("model=procedural,builtin", steps=30))
    assert pinned.cells[1].request.steps == 30


def test_consecutive_seeds_share_one_call_others_do_not() -> None:
    consecutive = batches(plan(sweep("seed=1-4", "sr=red,blue")).cells)
    assert [[c.request.seed for c in call] for call in consecutive] == [[1, 2, 3, 4]] * 2
    scattered = batches(plan(sweep("seed=1,3,4,9")).cells)
    assert [[c.request.seed for c in call] for call in scattered] == [[1], [3, 4], [9]]
    capped = batches(plan(sweep("seed=1-10")).cells, max_batch=4)
    assert [len(call) for call in capped] == [4, 4, 2]


def test_calls_for_one_model_come_together() -> None:
    calls = batches(plan(sweep("model=procedural,shapes-world", "seed=1,5")).cells)
    assert [call[0].request.model for call in calls] == [
        "procedural",
        "procedural",
        "shapes-world",
        "shapes-world",
    ]


def test_random_seed_is_resolved_once_for_the_whole_sweep() -> None:
    definition = sweep("steps=10,20", seed=-1)
    resolved = definition.resolved(random.Random(0))
    seeds = {c.request.seed for c in plan(resolved).cells}
    assert len(seeds) == 1 and -1 not in seeds
    assert definition.key() != resolved.key()
    assert SweepDefinition.from_dict(resolved.to_dict()) == resolved


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("axes", "fields", "message"),
    [
        (
            {"x": "cfg=1,2"},
            {},
            "axis X: unknown field 'cfg'; allowed: seed, guidance_scale, steps, sampler, "
            "schedule, width, height, size, model, negative_prompt, strength; "
            "prompt variants: sr, descriptors, order, density",
        ),
        ({"y": "steps=10,abc"}, {}, "axis Y: steps='abc' is invalid: must be an integer"),
        (
            {"x": "guidance_scale=7,500"},
            {},
            "axis X: guidance_scale=500.0 is invalid: must be a number from 0 to 100",
        ),
        ({"z": "seed=1,-5"}, {}, "axis Z: seed=-5 is invalid"),
        ({"x": "width=64,100"}, {}, "axis X: width=100 is invalid: must be a multiple of 8"),
        ({"x": "sampler=Euler,Warp"}, {}, "axis X: sampler='Warp' is invalid: unknown sampler"),
        ({"x": "size=64x64,big"}, {}, "axis X: size value 'big' is not WIDTHxHEIGHT"),
        ({"x": "strength=0.5,2"}, {}, "axis X: strength=2.0 is invalid"),
        ({"x": "seed="}, {}, "axis X: seed needs at least one value"),
        ({"x": "seed=9-1"}, {}, "axis X: range '9-1' must rise"),
        ({"x": "descriptors=weather"}, {}, "axis X: unknown descriptor set 'weather'; known: "),
        ({"x": "density"}, {}, "axis X: density needs a descriptor set"),
        ({"x": "sr=blue,green"}, {}, "axis X: sr search text 'blue' is not in the prompt"),
        ({"x": "sr=red"}, {}, "axis X: sr needs the search text and at least one replacement"),
        ({"x": "order=at noon,a red circle"}, {}, "axis X: order phrase 'at noon' is not"),
        ({"x": "order"}, {"prompt": "a, b, c, d, e, f, g"}, "order permutes 7 phrases; at most 6"),
        ({"x": "order"}, {"prompt": "a red circle"}, "order needs at least two"),
        ({"x": "seed=1,2", "y": "seed=3,4"}, {}, "axis Y: seed already varies on axis X"),
        ({"x": "size=64x64", "y": "width=64"}, {}, "axis Y: width already varies on axis X"),
        ({"x": "model=procedural,  "}, {}, "axis X: model='' is invalid"),
        ({}, {"steps": 0}, "steps=0 is invalid"),
        ({}, {"prompt": None}, "a sweep needs a prompt"),
    ],
)
def test_refusals_name_the_axis_and_what_is_allowed(axes, fields, message) -> None:
    with pytest.raises(GenlabError) as err:  # InvalidRequest for the settings themselves
        plan(definition_from({**BASE, **fields}, axes))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(SweepError, match="unknown setting 'batch_size'; allowed: prompt"):
        SweepDefinition({**BASE, "batch_size": 2}, {})


def test_budget_refuses_big_sweeps_unless_confirmed() -> None:
    with pytest.raises(SweepError) as err:
        check_budget(300, 256, confirmed=False)
    assert str(err.value) == (
        "the sweep makes 300 images, over the budget of 256; confirm with --yes or raise --budget"
    )
    check_budget(300, 256, confirmed=True)
    check_budget(256, 256, confirmed=False)


# -- sweep files -------------------------------------------------------------------------


def test_a_sweep_file_equals_the_same_flags(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(
        'prompt = "a red circle, at night"\n'
        "width = 64\nheight = 64\nseed = 10\nguidance_scale = 7\n"
        'x = "seed=1-3"\n'
        'y = { axis = "guidance_scale", values = [3, 7.5] }\n'
        'z = { axis = "descriptors", set = "style" }\n'
    )
    from_file = definition_from({}, {}, path)
    from_flags = sweep("seed=1-3", "guidance_scale=3,7.5", "descriptors=style", guidance_scale=7.0)
    assert from_file == from_flags
    assert from_file.key() == from_flags.key()
    assert plan(from_file).cells == plan(from_flags).cells


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('prompt = "a red circle"\nsteps = 10\nx = "seed=1,2"\n')
    definition = definition_from({"steps": 30}, {"x": "seed=5,6"}, path)
    assert definition.fields["steps"] == 30
    assert definition.axes["x"].values == (5, 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('prompt = "a"\ncfg = 7\n', "unknown key 'cfg'; allowed: prompt"),
        ('prompt = "a"\nx = { field = "seed" }\n', "axis X: an axis table needs 'axis'"),
        ('prompt = "a"\nx = { axis = "seed", values = 3 }\n', "axis X: values=3 must be a list"),
        ('prompt = "a"\nx = 3\n', "axis X: 3 is neither 'field=v1,v2' nor a table"),
        ('prompt = "a\n', "sweep.toml: "),
    ],
)
def test_sweep_file_mistakes_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(SweepError) as err:
        definition_from({}, {}, path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
