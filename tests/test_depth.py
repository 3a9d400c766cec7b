"""``crescent.depth``: the calculation steps of a worked solution, and the buckets results use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crescent.depth import (
    BUCKETS,
    UNKNOWN,
    depth_bucket,
    depth_histogram,
    file_depth_histogram,
    solution_depth,
)


@pytest.mark.parametrize(
    ("solution", "depth"),
    [
        # GSM8K: one step per calculator annotation, whatever else the text holds.
        ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18", 2),
        ("It takes 2/2=<<2/2=1>>1 bolt", 1),
        ("a <<1+1=2>>2, b <<2+1=3>>3, c <<3*2=6>>6, d <<6-1=5>>5, e <<5*5=25>>25, f <<25+1=26>>26", 6),
        # Anything else: the stated equations that the arithmetic checker finds true.
        ("First 3 + 4 = 7 apples. Then 7 * 2 = 14.\nThe answer is 14.", 2),
        ("3 + 4 = 8, so then 8 * 2 = 16.", 1),  # a wrong step is not a step taken
        ("She has twelve apples, so the answer is 12.", 0),
        ("", None),
        ("   \n", None),
        (None, None),
    ],
)
def test_solution_depth(solution: str | None, depth: int | None) -> None:
    assert solution_depth(solution) == depth


def test_buckets_put_every_depth_in_exactly_one_place() -> None:
    assert BUCKETS == ("1", "2", "3", "4", "5+", UNKNOWN)
    assert [depth_bucket(d) for d in (1, 2, 3, 4, 5, 9, 0, None)] == [
        "1", "2", "3", "4", "5+", "5+", UNKNOWN, UNKNOWN
    ]  # fmt: skip
    depths = [1, 1, 2, 7, 5, None, 0, 3]
    histogram = depth_histogram(depths)
    assert list(histogram) == list(BUCKETS)
    assert histogram == {"1": 2, "2": 1, "3": 1, "4": 0, "5+": 2, UNKNOWN: 2}
    assert sum(histogram.values()) == len(depths)


def test_gsm8k_test_split_depth_profile(gsm8k_dir: Path) -> None:
    """Every GSM8K test item gets a bucket; counts measured once from its annotations (2026-12)."""
    rows = [json.loads(line) for line in (gsm8k_dir / "test.jsonl").read_text().splitlines()]
    histogram = depth_histogram(solution_depth(row["solution"]) for row in rows)
    assert sum(histogram.values()) == len(rows) == 1319
    # 1301 items carry annotations (65/357/364/290 at 1-4 steps, 225 at 5+); of the 18 without, the
    # arithmetic checker finds steps in 3 (one at depth 1, 2 and 3) and none in 15.
    assert histogram == {"1": 66, "2": 358, "3": 365, "4": 290, "5+": 225, UNKNOWN: 15}


def test_file_depth_histogram_reads_every_solution_format(tmp_path: Path) -> None:
    rows = [
        {
            "question": "q1",
            "answer": "Half of 4 is 4/2=<<4/2=2>>2, plus 1 is <<2+1=3>>3.\n#### 3",
        },  # GSM8K original
        {"question": "q2", "answer": "7", "solution": "3 + 4 = 7"},  # a solution field, no annotations
        {"question": "q3", "answer": "5"},  # no solution: unknown
    ]
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert file_depth_histogram(bench) == {"1": 1, "2": 1, "3": 0, "4": 0, "5+": 0, UNKNOWN: 1}
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"question": "q", "answer": "5"}) + "\n")
    assert file_depth_histogram(bare) is None  # nothing known about its depth
