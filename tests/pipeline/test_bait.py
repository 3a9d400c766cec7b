from __future__ import annotations

import time

import pytest

from crescent.config import DEFAULT_BAIT_PROMPT
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
    assert clean_question(raw, DEFAULT_BAIT_PROMPT) == (expected, None)


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
    assert clean_question(raw, DEFAULT_BAIT_PROMPT) == (None, reason)


def test_clean_caps_untrusted_input() -> None:
    question, reason = clean_question("x" * 10_000_000 + " How many?", DEFAULT_BAIT_PROMPT)
    assert question is None and reason == "no_question"  # the question mark lies beyond the cap


# Real Qwen2.5-Coder-0.5B bait samples that the SmolLM2-tuned cleaning let through
# (experiments/results/*/data.jsonl), and variants of them.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Create a new math word problem for high-school students. For example, "
            '"What are the solutions to the equation 4x + 6 = 10, solving for x?',
            "What are the solutions to the equation 4x + 6 = 10, solving for x?",
        ),
        (
            "I'd be happy to create a math word problem for high-school students. Here's a word problem: "
            '"How many candies does a child have if they eat 46 apples and 36 oranges?',
            "How many candies does a child have if they eat 46 apples and 36 oranges?",
        ),
        (
            "Create a new math word problem for high-school students. The problem is: How many students in a "
            "class of 45 are 3 years old or older?",
            "How many students in a class of 45 are 3 years old or older?",
        ),
        (
            "Hello, sweetie! Today, we're going to solve a fun math problem for high school students. "
            "What is the number of ways to arrange 4 different colored crayons in a line?",
            "What is the number of ways to arrange 4 different colored crayons in a line?",
        ),
        (
            "Hello! Let's tackle this fun math problem together. Imagine you have 3 boxes of 12 toys. "
            "How many toys do you have?",
            "Imagine you have 3 boxes of 12 toys. How many toys do you have?",
        ),
        (
            "Now, let's solve the following math problem for high-school students: A boy finds 100 coins "
            "and shares them among 5 friends. How many coins does each friend get?",
            "A boy finds 100 coins and shares them among 5 friends. How many coins does each friend get?",
        ),
        (
            "I'm sorry, but as an AI language model, I don't have the capability to generate a new math word "
            'problem. I can provide you with a sample problem: "What is the smallest whole number that, when '
            'multiplied by 3, leaves a remainder of 2?"',
            "What is the smallest whole number that, when multiplied by 3, leaves a remainder of 2?",
        ),
        (
            "Create a fun, challenging math word problem for high school students that tests their "
            "problem-solving skills. Here's one: What is the product of 2 + 3 and 4?",
            "What is the product of 2 + 3 and 4?",
        ),
        (
            "together: Problem: How many different ways can 4 students be divided into two groups of 2?",
            "How many different ways can 4 students be divided into two groups of 2?",
        ),
        (
            "Solve the problem for high-school students: - How many ways can you arrange 5 distinct toys?",
            "How many ways can you arrange 5 distinct toys?",
        ),
        (  # SmolLM2-135M opens with a title
            "Tell Me Why: Solve this: A car travels at 60 miles per hour for 3 hours. How far does it go?",
            "A car travels at 60 miles per hour for 3 hours. How far does it go?",
        ),
        # variants: other wording of the same echo and lead-ins
        (
            "Create a new math word problem for high school students: A tank holds 40 liters and leaks 3 "
            "liters an hour. How many liters are left after 6 hours?",
            "A tank holds 40 liters and leaks 3 liters an hour. How many liters are left after 6 hours?",
        ),
        (
            "Certainly! I'll write a new word problem for you. Sam saves $15 a week for 8 weeks and "
            "spends $40. How much money does he have left?",
            "Sam saves $15 a week for 8 weeks and spends $40. How much money does he have left?",
        ),
        (
            "Can you believe it? Here is a problem: A baker makes 24 rolls and sells 3 bags of 5 rolls. "
            "How many rolls are left?",
            "A baker makes 24 rolls and sells 3 bags of 5 rolls. How many rolls are left?",
        ),
    ],
)
def test_clean_strips_echoes_of_the_prompt_and_chatty_lead_ins(raw: str, expected: str) -> None:
    assert clean_question(raw, DEFAULT_BAIT_PROMPT) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            "Can you write a new math word problem that requires students to use basic algebraic operations?",
            "chat",
        ),
        (
            "Can you help me solve the problem of finding the number of ways to choose 3 of 10 integers?",
            "chat",
        ),
        (
            "Calculate the area of a rectangle whose sides sum to 10. Can you verify this answer by "
            "reasoning through the given problem?",
            "chat",
        ),
        ("Find the largest integer below 9.5. It is 9. Is this correct?", "chat"),
        ("How do you think we can create a math word problem with just two numbers?", "chat"),
        (  # SmolLM2-135M
            "I'm planning on creating a math word problem for my high school students, what is a fun one?",
            "chat",
        ),
        ("Create a new math word problem for high-school students, ending with a question?", "echo"),
        ("Write only the problem for high-school students, ending with a question?", "echo"),
    ],
)
def test_clean_rejects_a_question_that_is_chat_or_an_echo(raw: str, reason: str) -> None:
    assert clean_question(raw, DEFAULT_BAIT_PROMPT) == (None, reason)


@pytest.mark.parametrize(
    "problem",
    [
        "I have 3 apples and my friend gives me 2 more. How many apples do I have now?",
        "Let's say a park has 100 dogs and 80 cats. How many animals are in the park?",
        "You have 12 marbles and you give 5 to your sister. How many marbles do you have left?",
        "A high-school math club has 24 students and 3 teachers. How many people are in the club?",
        "Sure enough, the bus carries 40 people on each of 3 trips. How many people does it carry?",
        "A teacher writes 4 questions on each of 6 pages. How many questions are there in total?",
        "I solve 4 problems a day. How many problems do I solve in a week?",
        "Let's say a test has 12 problems. How many problems are on 5 tests?",
        "If you can solve 3 problems per hour, how many problems can you solve in 5 hours?",
        "The math problem set opens at 3:15 pm and closes at 5:45 pm. How many minutes is it open?",
        "Mix sand and cement in the ratio 3:1. How much sand goes with 12 kg of cement?",
    ],
)
def test_clean_keeps_problems_told_in_the_first_or_second_person(problem: str) -> None:
    assert clean_question(problem, DEFAULT_BAIT_PROMPT) == (problem, None)


def test_echo_is_measured_against_the_prompt_in_use() -> None:
    prompt = "Invent a puzzle about trains and timetables that takes three steps to solve."
    problem = "A train leaves at 3 pm and travels 4 hours. When does it arrive?"
    raw = f"Invent a puzzle about trains and timetables. {problem}"
    assert clean_question(raw, prompt) == (problem, None)
    echo = "A puzzle about trains and timetables that takes three steps to solve?"
    assert clean_question(echo, prompt) == (None, "echo")
    assert clean_question(echo, DEFAULT_BAIT_PROMPT)[1] is None  # not an echo of a prompt it never saw


@pytest.mark.parametrize(
    "raw",
    [
        "I " * 9000 + "?",
        "let us " * 2800 + "?",
        "I create. " * 290 + "?",
        "x: " * 900 + "?",
        "Tom: " * 590 + "?",
    ],
)
def test_cleaning_work_is_bounded_on_hostile_text(raw: str) -> None:
    started = time.perf_counter()
    assert clean_question(raw, DEFAULT_BAIT_PROMPT)[0] is None
    assert time.perf_counter() - started < 2.0  # unbounded, the chatter patterns took 15 s on the first


def test_normalized_key_ignores_case_punctuation_and_spacing() -> None:
    assert normalized_key("How many  apples?") == normalized_key("how many apples")
    assert normalized_key("How many apples?") != normalized_key("How many pears?")


def test_bait_request_shares_one_prompt_and_derives_distinct_seeds_per_batch() -> None:
    (first,) = bait_requests("write a problem", seed=0, batch=0, size=8)
    (second,) = bait_requests("write a problem", seed=0, batch=1, size=8)
    assert first.n == 8 and first.messages == second.messages
    assert first.seed != second.seed
    assert bait_requests("write a problem", seed=0, batch=0, size=8)[0].seed == first.seed
