"""Step 3, majority voting: K sampled step-by-step solutions per question; the most
frequent final answer (by mathematical equality, see ``crescent.answers``) wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crescent.answers import extract_answer, tally
from crescent.backends.base import Completion, SampleRequest, derive_seed
from crescent.prompts import solve_messages

MAX_SOLUTION_CHARS = 8000  # model output is untrusted; a training target never exceeds this


@dataclass(frozen=True)
class VoteOutcome:
    kept: bool
    reason: str | None
    answer: str | None
    solution: str | None
    consensus: float
    counts: dict[str, int]
    answers: list[str | None]


def vote_request(question_id: str, question: str, instruction: str, votes: int, seed: int) -> SampleRequest:
    """All K votes share one prompt, so the backend can evaluate it once and fork it."""
    return SampleRequest(
        messages=solve_messages(question, instruction), n=votes, seed=derive_seed("vote", seed, question_id)
    )


def decide(completions: Sequence[Completion], min_consensus: float) -> VoteOutcome:
    answers = [extract_answer(c.text) for c in completions]
    result = tally(answers)
    counts = result.as_counts()
    if result.winner is None:
        return VoteOutcome(False, "no_answer", None, None, 0.0, counts, answers)
    if result.consensus < min_consensus:
        return VoteOutcome(False, "low_consensus", result.winner, None, result.consensus, counts, answers)
    winners = result.groups[0].indices
    finished = [i for i in winners if completions[i].finish_reason == "stop"]
    chosen = (finished or list(winners))[0]
    solution = completions[chosen].text.strip()[:MAX_SOLUTION_CHARS]
    return VoteOutcome(True, None, result.winner, solution, result.consensus, counts, answers)
