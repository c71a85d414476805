from __future__ import annotations

import json
import math

import pytest

from genlab.core.errors import InvalidRequest
from genlab.data.experiment import (
    ExperimentConfig,
    minimum_detectable,
    skewed_sizes,
    t_interval,
)
from genlab.services.data_experiment import PLOT, RESULTS, TABLE, run_experiment


def test_t_interval_matches_the_textbook():
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    # sd 1, n 3, t(0.975, 2) = 4.3027
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert mean - low == pytest.approx(high - mean)


def test_minimum_detectable_difference_shrinks_with_seeds():
    few = minimum_detectable([0.1, -0.1, 0.1, -0.1])
    many = minimum_detectable([0.1, -0.1] * 8)
    assert 0 < many < few


def test_skew_puts_the_rare_groups_at_the_asked_share():
    sizes = skewed_sizes(ExperimentConfig(majority=100, rare=0.03))
    assert sorted(set(sizes.values())) == [3, 100]
    assert sum(n == 100 for n in sizes.values()) == 4  # one majority colour per shape


@pytest.mark.parametrize(
    "field, value", [("majority", 5), ("seeds", 1), ("rare", 0.0), ("size", 20), ("epochs", True)]
)
def test_config_refuses_values_that_cannot_run(field, value):
    with pytest.raises(InvalidRequest, match=field):
        ExperimentConfig(**{field: value})


def test_a_tiny_experiment_runs_every_condition(tmp_path):
    config = ExperimentConfig(majority=10, rare=0.1, test_per_group=5, size=16, seeds=2, epochs=1)
    summary = run_experiment(tmp_path / "exp", config)
    conditions = summary["conditions"]
    assert list(conditions) == ["skewed", "classic", "procedural"]
    assert conditions["skewed"]["train_images"] == 4 * 10 + 12 * 1
    # The fill brings every group to the majority's 10.
    assert conditions["classic"]["train_images"] == conditions["procedural"]["train_images"] == 160
    for entry in conditions.values():
        mean, low, high = entry["worst_group"]
        assert low <= mean <= high and len(entry["by_group"]) == 16
    assert "mdd_rare_groups" in conditions["procedural"]
    assert json.loads((tmp_path / "exp" / RESULTS).read_text())["config"]["seeds"] == 2
    assert (tmp_path / "exp" / TABLE).read_text().startswith("| condition |")
    assert (tmp_path / "exp" / PLOT).read_bytes()[:4] == b"\x89PNG"
    rows = (tmp_path / "exp/seed-0/classic/metadata.jsonl").read_text().splitlines()
    sources = {json.loads(r)["augmented_from"].split("/")[1].rsplit("-", 1)[0] for r in rows}
    assert "red-circle" not in sources and len(sources) == 12  # only rare groups copied
