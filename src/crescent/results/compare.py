"""A paired comparison of two evals (``crescent eval compare``; ``improve``'s ``vs_round_0``)."""

from __future__ import annotations

from crescent.results.base import Number, Record


class DepthDifference(Record):
    """One reasoning-depth bucket of a paired comparison (``eval/by_depth.py``)."""

    depth: int | str
    n: int
    accuracy_a: Number | None = None
    accuracy_b: Number | None = None
    difference: Number | None = None
    difference_ci95: list[Number] | None = None
    mcnemar_p: Number | None = None
    worse: bool = False


class Comparison(Record):
    """B against A on the items both scored; ``by_depth`` is None when the predictions hold no depth.

    ``improve``'s ``vs_round_0`` keeps only the first six fields, so the others may be missing."""

    n: int
    difference: Number
    difference_ci95: list[Number]
    mcnemar_p: Number
    by_depth: list[DepthDifference] | None = None
    worse_depths: list[str] | None = None
    a: str | None = None  # the folders compared
    b: str | None = None
    only_in_a: int = 0  # items left out because the other run did not score them
    only_in_b: int = 0
    accuracy_a: Number | None = None
    accuracy_b: Number | None = None
    ci95_a: list[Number] | None = None
    ci95_b: list[Number] | None = None
    a_only_correct: int | None = None
    b_only_correct: int | None = None
