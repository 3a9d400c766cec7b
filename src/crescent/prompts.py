"""Chat prompts shared by voting, evaluation and training, so all three speak the same format."""

from __future__ import annotations

from collections.abc import Sequence

from crescent.backends.base import Message


def solve_prompt(question: str, instruction: str) -> str:
    return f"{instruction}\n\nProblem: {question.strip()}"


def solve_messages(
    question: str, instruction: str, shots: Sequence[tuple[str, str]] = ()
) -> tuple[Message, ...]:
    """A solve request, optionally after worked examples given as prior chat turns (few-shot)."""
    messages: list[Message] = []
    for shot_question, shot_solution in shots:
        messages.append({"role": "user", "content": solve_prompt(shot_question, instruction)})
        messages.append({"role": "assistant", "content": shot_solution})
    messages.append({"role": "user", "content": solve_prompt(question, instruction)})
    return tuple(messages)
