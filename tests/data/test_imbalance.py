from __future__ import annotations

import math

import pytest

from genlab.core.errors import InvalidRequest
from genlab.data.imbalance import imbalance


def test_uniform_counts_are_balanced():
    f = imbalance({"a": 5, "b": 5, "c": 5, "d": 5}, ["a", "b", "c", "d"])
    assert f.entropy_bits == pytest.approx(2.0)
    assert f.normalised_entropy == pytest.approx(1.0)
    assert f.kl_bits == pytest.approx(0.0)
    assert f.total_variation == pytest.approx(0.0)
    assert f.smallest_share == pytest.approx(0.25)
    assert f.ratio == 1.0 and f.missing == ()


def test_skewed_counts_against_uniform():
    # p = (0.75, 0.25, 0); q = 1/3 each.
    f = imbalance({"a": 3, "b": 1}, ["a", "b", "c"])
    assert f.total_variation == pytest.approx(0.5 * (abs(0.75 - 1 / 3) + abs(0.25 - 1 / 3) + 1 / 3))
    expected_kl = 0.75 * math.log2(0.75 * 3) + 0.25 * math.log2(0.25 * 3)
    assert f.kl_bits == pytest.approx(expected_kl)
    assert f.smallest == "c" and f.smallest_share == 0.0
    assert math.isinf(f.ratio) and f.to_dict()["ratio"] is None
    assert f.missing == ("c",)


def test_reference_missing_a_value_stays_finite():
    # The reference never shows "b": Jeffreys' half count keeps KL finite.
    f = imbalance({"a": 1, "b": 1}, ["a", "b"], reference={"a": 10})
    q_b = 0.5 / 11
    assert f.kl_bits == pytest.approx(0.5 * math.log2(0.5 / (1 - q_b)) + 0.5 * math.log2(0.5 / q_b))
    assert math.isfinite(f.kl_bits)


def test_empty_counts_are_refused():
    with pytest.raises(InvalidRequest, match="counts"):
        imbalance({}, ["a"])
    with pytest.raises(InvalidRequest, match="support"):
        imbalance({"a": 1}, [])
