"""Reasoning depth: how many calculation steps a worked solution takes, and the buckets it is reported in.

One accuracy figure hides *where* a model wins and loses: self-training on mostly one-step questions
can teach a shortcut (one operation where two are needed) that gains on shallow items and loses on deep
ones. Reporting results by depth, for the benchmark and for the generated data alike, makes that shape
visible. This module is the one place that decides the depth of a solution; eval, compare, generate's
stats, the reports and the card all go through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from crescent.arithmetic import check
from crescent.pipeline.sources import read_jsonl, reference_solution

__all__ = [
    "BUCKETS",
    "CALCULATOR_ANNOTATION",
    "UNKNOWN",
    "depth_bucket",
    "depth_histogram",
    "file_depth_histogram",
    "solution_depth",
]

# GSM8K marks every calculation of a reference solution with a calculator annotation ("<<48/2=24>>").
CALCULATOR_ANNOTATION = re.compile(r"<<[^<>\n]{0,200}>>")
DEEPEST = 5  # depths from here on share one bucket: few benchmark items are deeper, and they behave alike
UNKNOWN = "unknown"
BUCKETS: tuple[str, ...] = (*(str(d) for d in range(1, DEEPEST)), f"{DEEPEST}+", UNKNOWN)


def solution_depth(solution: str | None) -> int | None:
    """Calculation steps in a worked solution; None when there is no solution to measure.

    A GSM8K reference solution counts its calculator annotations, which its authors wrote for every
    step. Any other solution (another benchmark's, or a model's winning vote) counts the stated
    equations that ``crescent.arithmetic`` parses *and* finds true: a wrong step is not a step taken.
    """
    if solution is None or not solution.strip():
        return None
    annotations = len(CALCULATOR_ANNOTATION.findall(solution))
    return annotations if annotations else check(solution).valid


def depth_bucket(depth: int | None) -> str:
    """The reporting bucket of a depth. Zero parsed steps means the steps are not known (they may be
    written in words), so it shares the bucket of a missing solution rather than claiming "no steps"."""
    if depth is None or depth < 1:
        return UNKNOWN
    return f"{DEEPEST}+" if depth >= DEEPEST else str(depth)


def depth_histogram(depths: Iterable[int | None]) -> dict[str, int]:
    """Count per bucket, every bucket present (in order), so histograms of two sources line up."""
    counts = dict.fromkeys(BUCKETS, 0)
    for depth in depths:
        counts[depth_bucket(depth)] += 1
    return counts


def file_depth_histogram(path: Path) -> dict[str, int] | None:
    """The depth histogram of a benchmark file's rows (by their reference solutions, as ``eval`` counts
    them); None when no row has a solution, since then nothing is known about its depth."""
    solutions = [reference_solution(row) for _, row in read_jsonl(path)]
    if not any(solutions):
        return None
    return depth_histogram(solution_depth(s) for s in solutions)
