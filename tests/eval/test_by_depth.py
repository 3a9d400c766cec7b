"""Accuracy and paired differences per depth bucket: the same statistics as the overall figures."""

from __future__ import annotations

import pytest

from crescent.depth import BUCKETS
from crescent.eval.by_depth import accuracy_by_depth, describe_by_depth, paired_by_depth, worse_buckets
from crescent.eval.stats import paired_difference, wilson_interval
from crescent.results.eval import DepthAccuracy


def test_accuracy_by_depth_counts_every_item_once() -> None:
    correct = [True, False, True, True, False, True, False]
    depths = [1, 1, 2, 9, 5, None, 0]
    rows = accuracy_by_depth(correct, depths)
    assert [r["depth"] for r in rows] == list(BUCKETS)
    assert sum(r["n"] for r in rows) == len(correct)
    by = {r["depth"]: r for r in rows}
    assert (by["1"]["n"], by["1"]["correct"], by["1"]["accuracy"]) == (2, 1, 0.5)
    assert by["1"]["ci95"] == [round(x, 4) for x in wilson_interval(1, 2)]
    assert (by["5+"]["n"], by["5+"]["accuracy"]) == (2, 0.5)
    assert (by["unknown"]["n"], by["unknown"]["accuracy"]) == (2, 0.5)
    assert by["4"] == {"depth": "4", "n": 0, "correct": 0, "accuracy": None, "ci95": None}
    with pytest.raises(ValueError, match="one depth per item"):
        accuracy_by_depth([True], [])


def test_paired_by_depth_flags_a_bucket_that_got_worse() -> None:
    # One-step items: B gains on 12 of 20. Two-step items: B loses 12 of 20. Overall: no change.
    a = [False] * 20 + [True] * 20
    b = [True] * 12 + [False] * 8 + [False] * 12 + [True] * 8
    depths = [1] * 20 + [2] * 20
    rows = paired_by_depth(a, b, depths, resamples=2000, seed=0)
    assert [r["depth"] for r in rows] == ["1", "2"]  # empty buckets have no paired figure
    one, two = rows
    assert one == {"depth": "1", **paired_difference(a[:20], b[:20], resamples=2000, seed=0), "worse": False}
    assert (one["difference"], one["b_only_correct"]) == (0.6, 12)
    assert two["difference"] == -0.6 and two["difference_ci95"][1] < 0 and two["worse"] is True
    assert two["mcnemar_p"] == pytest.approx(2 / 2**12, rel=1e-3)
    assert worse_buckets(rows) == ["2"]
    overall = paired_difference(a, b, resamples=2000, seed=0)
    assert overall["difference"] == 0.0  # the single figure hides both


def test_the_summary_line_leaves_out_a_benchmark_without_depths() -> None:
    """HumanEval has no worked solutions: "by depth: unknown: 56.7% of 164" says nothing, so no line."""
    assert describe_by_depth(_typed(accuracy_by_depth([True, False, True], [None, None, None]))) == ""
    mixed = describe_by_depth(_typed(accuracy_by_depth([True, False, True], [1, 2, None])))
    assert mixed == "by depth: 1: 100.0% of 1, 2: 0.0% of 1, unknown: 100.0% of 1"


def _typed(rows: list[dict]) -> list[DepthAccuracy]:
    """``by_depth`` as results.json's typed result reads it back."""
    return [DepthAccuracy.model_validate(row) for row in rows]
