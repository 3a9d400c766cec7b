"""The cells of an eval's summary tables, shared by the HTML report (``reports/eval.py``) and the
dataset card of its predictions (``publish/card.py``), so both state a score the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crescent.results.eval import DepthAccuracy, EvalResults

__all__ = ["depth_rows", "score_cells", "score_columns"]


def score_columns(metric: str, ci_label: str = "95% CI") -> list[str]:
    """The headers of ``score_cells``; ``ci_label`` lets a page name the interval's method."""
    return ["n", "correct", metric, ci_label, "no answer", "votes", "shots"]


def score_cells(results: EvalResults) -> list[Any]:
    """One row under ``score_columns`` from an eval's results.json."""
    low, high = results.ci95
    return [
        results.n,
        results.correct,
        f"{results.accuracy:.2%}",
        f"[{low:.2%}, {high:.2%}]",
        f"{results.extraction_failure_rate:.2%}",
        results.votes,
        len(results.shots),
    ]


def depth_rows(by_depth: Sequence[DepthAccuracy]) -> list[list[Any]]:
    """``[steps, items, accuracy, 95% CI]`` per bucket of ``accuracy_by_depth``; an empty one shows dashes."""
    return [
        [r.depth, r.n, f"{r.accuracy:.2%}", f"[{r.ci95[0]:.2%}, {r.ci95[1]:.2%}]"]
        if r.n and r.accuracy is not None and r.ci95
        else [r.depth, 0, "—", "—"]
        for r in by_depth
    ]
