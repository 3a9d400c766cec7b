"""Eval tasks: what ``crescent eval --task NAME`` reads, asks and scores, behind one driver.

As in lm-evaluation-harness, a task is a small object (items, prompt, scoring) and the driver
(:mod:`crescent.eval.run`) does the rest the same way for all of them: sampling, the run store, resume,
``results.json`` with a Wilson interval, ``predictions.jsonl`` with a per-item ``correct``, so
``crescent eval compare`` pairs any two runs of one task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crescent.answers import answers_equal, extract_answer, tally
from crescent.backends.base import Completion
from crescent.config import EvalConfig
from crescent.eval.data import EvalItem, Shot, load_items
from crescent.prompts import solve_messages


@dataclass(frozen=True)
class Scored:
    prediction: str | None  # what the item's score rests on: the voted answer, or the code's outcome
    correct: bool
    answers: list[str | None]  # per output: the extracted answer (or code), None where there is none
    consensus: float = 1.0
    counts: dict[str, int] = field(default_factory=dict)


class Task(Protocol):
    metric: str

    def data(self, config: EvalConfig) -> Path: ...
    def load(self, path: Path) -> list[EvalItem]: ...
    def messages(self, config: EvalConfig, question: str, shots: Sequence[Shot]) -> list[dict[str, str]]: ...
    def score(self, config: EvalConfig, item: EvalItem, completions: list[Completion]) -> Scored: ...
    def summary(self, config: EvalConfig) -> dict[str, Any]: ...


class MathTask:
    """GSM8K-style word problems: the majority answer, compared as a number (``crescent.answers``), the
    very code that labels generated data, so eval scores and training labels agree."""

    metric = "accuracy"

    def data(self, config: EvalConfig) -> Path:
        assert config.data is not None  # EvalConfig's validator requires it for this task
        return config.data

    def load(self, path: Path) -> list[EvalItem]:
        return load_items(path)

    def messages(self, config: EvalConfig, question: str, shots: Sequence[Shot]) -> list[dict[str, str]]:
        pairs = [(s.question, s.solution) for s in shots]
        return list(solve_messages(question, config.solve_instruction, pairs))

    def score(self, config: EvalConfig, item: EvalItem, completions: list[Completion]) -> Scored:
        answers = [extract_answer(c.text) for c in completions]
        result = tally(answers)
        correct = answers_equal(item.gold, result.winner)
        return Scored(result.winner, correct, answers, result.consensus, result.as_counts())

    def summary(self, config: EvalConfig) -> dict[str, Any]:
        return {}


class HumanEvalTask:
    """pass@1 of one greedy function per problem, run against the problem's tests in a sandbox."""

    metric = "pass@1"

    def data(self, config: EvalConfig) -> Path:
        from crescent.eval.humaneval import default_problems

        return config.data or default_problems()

    def load(self, path: Path) -> list[EvalItem]:
        from crescent.eval.humaneval import load_problems

        return load_problems(path)

    def messages(self, config: EvalConfig, question: str, shots: Sequence[Shot]) -> list[dict[str, str]]:
        from crescent.eval.humaneval import messages

        return messages(question)

    def score(self, config: EvalConfig, item: EvalItem, completions: list[Completion]) -> Scored:
        from crescent.eval.humaneval import extract_code, program
        from crescent.eval.sandbox import run_program

        assert item.entry_point is not None and len(completions) == 1  # one greedy sample: pass@1
        code = extract_code(completions[0].text, item.entry_point)
        if code is None:
            return Scored(None, False, [None])
        outcome = run_program(program(item, code), config.exec_timeout_s)
        return Scored(outcome.result, outcome.passed, [code], 1.0, {outcome.result: 1})

    def summary(self, config: EvalConfig) -> dict[str, Any]:
        from crescent.eval.sandbox import isolation_summary

        return {"sandbox": isolation_summary(config.exec_timeout_s)}


TASKS: dict[str, Task] = {"math": MathTask(), "humaneval": HumanEvalTask()}
