"""Accuracy and paired differences per reasoning-depth bucket (``crescent.depth``).

A model can gain on one-step items and lose on multi-step ones while its overall accuracy rises: the
shortcut a self-training run can learn from shallow data. These breakdowns use the same interval and
paired test as the overall figures (``eval/stats.py``), applied to each bucket's items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from crescent.depth import BUCKETS, UNKNOWN, depth_bucket
from crescent.eval.stats import paired_difference, wilson_interval
from crescent.results.eval import DepthAccuracy

__all__ = ["accuracy_by_depth", "describe_by_depth", "paired_by_depth", "worse_buckets"]


def accuracy_by_depth(correct: Sequence[bool], depths: Sequence[int | None]) -> list[dict[str, Any]]:
    """``[{depth, n, accuracy, ci95}]`` for every bucket in order; an empty bucket has null accuracy.

    Every item falls in exactly one bucket, so the ``n`` add up to the number of items.
    """
    if len(correct) != len(depths):
        raise ValueError(f"accuracy_by_depth needs one depth per item, got {len(correct)} and {len(depths)}")
    buckets = [depth_bucket(d) for d in depths]
    rows = []
    for bucket in BUCKETS:
        outcomes = [bool(c) for c, b in zip(correct, buckets, strict=True) if b == bucket]
        n, right = len(outcomes), sum(outcomes)
        if n:
            low, high = wilson_interval(right, n)
            rows.append(
                {
                    "depth": bucket,
                    "n": n,
                    "correct": right,
                    "accuracy": round(right / n, 4),
                    "ci95": [round(low, 4), round(high, 4)],
                }
            )
        else:
            rows.append({"depth": bucket, "n": 0, "correct": 0, "accuracy": None, "ci95": None})
    return rows


def describe_by_depth(rows: Sequence[DepthAccuracy]) -> str:
    """One line for a person: "by depth: 1: 16.0% of 25, 2: ...", empty buckets left out; nothing at all
    when no item has a known depth (a benchmark without worked solutions, such as HumanEval)."""
    filled = [f"{r.depth}: {r.accuracy:.1%} of {r.n}" for r in rows if r.n and r.accuracy is not None]
    if not any(r.n for r in rows if r.depth != UNKNOWN):
        return ""
    return "by depth: " + ", ".join(filled)


def paired_by_depth(
    a: Sequence[bool], b: Sequence[bool], depths: Sequence[int | None], *, resamples: int, seed: int
) -> list[dict[str, Any]]:
    """The paired B − A figures of every non-empty bucket; ``worse`` when its CI lies wholly below 0."""
    xa, xb = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    buckets = np.array([depth_bucket(d) for d in depths], dtype=object)
    rows = []
    for bucket in BUCKETS:
        mask = buckets == bucket
        if not mask.any():
            continue
        figures = paired_difference(xa[mask], xb[mask], resamples=resamples, seed=seed)
        rows.append({"depth": bucket, **figures, "worse": figures["difference_ci95"][1] < 0})
    return rows


def worse_buckets(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The buckets whose paired difference is significantly negative (CI wholly below 0)."""
    return [row["depth"] for row in rows if row.get("worse")]
