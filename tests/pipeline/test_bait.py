from __future__ import annotations

import pytest

from crescent.pipeline.bait import MAX_CHARS, bait_requests, clean_question, normalized_key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Problem: Ann has 3 cats and 2 dogs. How many pets does she have?",
            "Ann has 3 cats and 2 dogs. How many pets does she have?",
        ),
        (
            "Sure! Here is a problem:\nTom reads 5 pages a day. How many pages in 7 days?\nSolution: 35",
            "Tom reads 5 pages a day. How many pages in 7 days?",
        ),
        (
            "**Problem 1:** A train travels 60 miles per hour. How far does it go in 3 hours? Answer: 180",
            "A train travels 60 miles per hour. How far does it go in 3 hours?",
        ),
        (
            "Maria buys   4 apples\nat $2 each. What does she pay?",
            "Maria buys 4 apples at $2 each. What does she pay?",
        ),
    ],
)
def test_clean_strips_lead_ins_and_cuts_after_the_question(raw: str, expected: str) -> None:
    assert clean_question(raw) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("A farmer has 12 cows and sells 5 of them at the market.", "no_question"),
        ("Why?", "too_short"),
        ("A" * (MAX_CHARS + 10) + "?", "too_long"),
    ],
)
def test_clean_rejects_with_a_reason(raw: str, reason: str) -> None:
    assert clean_question(raw) == (None, reason)


def test_clean_caps_untrusted_input() -> None:
    question, reason = clean_question("x" * 10_000_000 + " How many?")
    assert question is None and reason == "no_question"  # the question mark lies beyond the cap


def test_normalized_key_ignores_case_punctuation_and_spacing() -> None:
    assert normalized_key("How many  apples?") == normalized_key("how many apples")
    assert normalized_key("How many apples?") != normalized_key("How many pears?")


def test_bait_request_shares_one_prompt_and_derives_distinct_seeds_per_batch() -> None:
    (first,) = bait_requests("write a problem", seed=0, batch=0, size=8)
    (second,) = bait_requests("write a problem", seed=0, batch=1, size=8)
    assert first.n == 8 and first.messages == second.messages
    assert first.seed != second.seed
    assert bait_requests("write a problem", seed=0, batch=0, size=8)[0].seed == first.seed
