"""Turning K sampled solutions into one training label, or into a reasoned refusal.

The paper keeps the most frequent final answer when enough votes agree. A model that agrees with itself
is not thereby right, so the policy adds filters, each switchable and each counted with its reason:

- ``drop_unfinished_votes``: a vote cut at ``max_tokens`` or without an extractable answer does not vote
  (it neither supports nor dilutes consensus; the paper's rule counts it against consensus);
- ``drop_ties``: no majority when two answers share the top count (the paper's rule breaks the tie by
  whichever came first, so a 1-1 split among two valid votes would pass a 0.5 threshold);
- ``min_valid_votes``: a label needs at least this many votes that did vote (or all, if fewer were drawn);
- ``max_consensus``: an optional difficulty band (R-Zero keeps questions 30-70 % of votes agree on);
- ``arithmetic_check``: the chosen solution's stated ``a op b = c`` steps must hold
  (``crescent.arithmetic``); a winning answer with no such solution is dropped;
- ``shortcut_filter``: the answer is a number copied from the question and the solution does no valid
  arithmetic ("finish by 10 minutes?" -> 10): agreement on a shortcut, not a solved problem;
- ``self_check`` (off by default): the same model, asked whether the question has exactly one numeric
  answer, said no (``crescent.pipeline.self_check``; its stored verdict is passed to ``decide``).

Labels are a pure function of the stored votes (and verdicts) and this policy, so a run can be
relabelled under another policy without sampling again (the audit and the ablation do exactly that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import crescent.arithmetic as arithmetic
from crescent.answers import Tally, extract_answer, normalize_answer, tally
from crescent.backends.base import Completion

if TYPE_CHECKING:
    from crescent.config import VotingConfig

MAX_SOLUTION_CHARS = 8000  # model output is untrusted; a training target never exceeds this
_QUESTION_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")

PROMPT_TOO_LONG = "prompt_too_long"  # not a label filter: the question's prompt did not fit the context
DROP_REASONS = (
    "no_answer",
    "too_few_votes",
    "tie",
    "low_consensus",
    "too_easy",
    "arithmetic_error",
    "shortcut",
    "self_check",
    PROMPT_TOO_LONG,
)


@dataclass(frozen=True)
class LabelPolicy:
    min_consensus: float = 0.5
    max_consensus: float = 1.0
    drop_unfinished_votes: bool = True
    drop_ties: bool = True
    min_valid_votes: int = 2
    arithmetic_check: bool = True
    shortcut_filter: bool = True
    self_check: bool = False

    @classmethod
    def from_config(cls, config: VotingConfig) -> LabelPolicy:
        return cls(**{name: getattr(config, name) for name in config.LABEL_FIELDS})

    @classmethod
    def plain_majority(cls, min_consensus: float = 0.5) -> LabelPolicy:
        """The paper's rule: the most frequent answer, consensus over all K votes, no other filter."""
        return cls(
            min_consensus=min_consensus,
            max_consensus=1.0,
            drop_unfinished_votes=False,
            drop_ties=False,
            min_valid_votes=1,
            arithmetic_check=False,
            shortcut_filter=False,
            self_check=False,
        )


@dataclass(frozen=True)
class VoteOutcome:
    kept: bool
    reason: str | None
    answer: str | None
    solution: str | None
    consensus: float
    counts: dict[str, int]
    answers: list[str | None]
    paths: tuple[str, ...] = ()
    """Winning solutions with distinct stated equations (``distinct_paths``), ``solution`` first."""
    rejected: str | None = None
    """The losing solution a preference pair contrasts with ``solution`` (``least_voted``)."""
    rejected_votes: int = 0


def counted_answers(completions: Sequence[Completion], policy: LabelPolicy) -> list[str | None]:
    """Each vote's extracted answer, or None where the vote does not count under the policy."""
    answers = [extract_answer(c.text) for c in completions]
    if policy.drop_unfinished_votes:
        answers = [
            a if c.finish_reason == "stop" else None for a, c in zip(answers, completions, strict=True)
        ]
    return answers


def decide(
    completions: Sequence[Completion],
    policy: LabelPolicy,
    question: str | None = None,
    verdict: bool | None = None,
) -> VoteOutcome:
    """The label of one question from its votes (``question`` enables the shortcut filter; ``verdict``
    is the model's own answer to "exactly one numeric answer?", None when not asked or unclear)."""
    answers = counted_answers(completions, policy)
    result = tally(answers)
    counts = result.as_counts()
    valid = result.extracted if policy.drop_unfinished_votes else result.total
    if result.winner is None:
        return VoteOutcome(False, "no_answer", None, None, 0.0, counts, answers)
    consensus = result.groups[0].count / valid if valid else 0.0

    def drop(reason: str) -> VoteOutcome:
        return VoteOutcome(False, reason, result.winner, None, consensus, counts, answers)

    if policy.self_check and verdict is False:  # not a problem at all: the first thing to report
        return drop("self_check")
    if result.extracted < min(policy.min_valid_votes, len(completions)):  # one vote asked, one needed
        return drop("too_few_votes")
    if policy.drop_ties and len(result.groups) > 1 and result.groups[1].count == result.groups[0].count:
        return drop("tie")
    if consensus < policy.min_consensus:
        return drop("low_consensus")
    if consensus > policy.max_consensus:
        return drop("too_easy")
    winners = list(result.groups[0].indices)
    finished = [i for i in winners if completions[i].finish_reason == "stop"]
    ordered = finished + [i for i in winners if i not in finished]
    texts = [completions[i].text.strip()[:MAX_SOLUTION_CHARS] for i in ordered]
    reports = [arithmetic.check(text) for text in texts] if policy.arithmetic_check else []
    if policy.arithmetic_check:
        passing = [i for i, report in enumerate(reports) if report.holds]
        if not passing:
            return drop("arithmetic_error")
    else:
        passing = list(range(len(texts)))
    chosen = passing[0]
    solution = texts[chosen]
    if policy.shortcut_filter and question is not None:
        report = reports[chosen] if reports else arithmetic.check(solution)
        if report.valid == 0 and copied_from_question(result.winner, question):
            return drop("shortcut")
    loser = least_voted(result, completions)
    rejected, rejected_votes = (None, 0) if loser is None else loser
    paths = distinct_paths([texts[i] for i in passing])
    return VoteOutcome(
        True, None, result.winner, solution, consensus, counts, answers, paths, rejected, rejected_votes
    )


def distinct_paths(solutions: Sequence[str]) -> tuple[str, ...]:
    """The first solution of each distinct list of stated equations (``arithmetic.equations``), in order.

    Rewordings of one calculation are one path: training on them adds no new reasoning (RFT, arXiv
    2308.01825, finds SFT gains grow with *distinct* paths).
    """
    seen: set[tuple[str, ...]] = set()
    kept = []
    for text in solutions:
        signature = arithmetic.equations(text)
        if signature not in seen:
            seen.add(signature)
            kept.append(text)
    return tuple(kept)


def least_voted(result: Tally, completions: Sequence[Completion]) -> tuple[str, int] | None:
    """The losing vote with the fewest votes, and its answer's vote count: the ``rejected`` side of a
    preference pair (ScPO, arXiv 2411.04109, contrasts the most- and least-consistent answers).

    Only votes that voted can lose: a vote cut at the token cap (under ``drop_unfinished_votes``) or
    without an answer says nothing about a wrong answer, so it is never rejected. Ties between losing
    answers go to the one drawn first. None when every counted vote agrees.
    """
    if len(result.groups) < 2:
        return None
    fewest = min(result.groups[1:], key=lambda group: (group.count, group.indices[0]))
    return completions[fewest.indices[0]].text.strip()[:MAX_SOLUTION_CHARS], fewest.count


def copied_from_question(answer: str, question: str) -> bool:
    """True when the answer's value is one of the numbers written in the question."""
    target = _number(answer)
    if target is None:
        return False
    return any(_number(m.group()) == target for m in _QUESTION_NUMBER.finditer(question))


def _number(text: str) -> Fraction | None:
    normalized = normalize_answer(text.replace(",", ""))
    if normalized is None:
        return None
    try:
        return Fraction(normalized)
    except (ValueError, ZeroDivisionError):
        return None


def first_wave(votes: int) -> int:
    """Votes drawn before anything can be settled: the fewest from which a leader can be unbeatable."""
    return min(votes, votes // 2 + 1)


def settled(completions: Sequence[Completion], votes: int, policy: LabelPolicy) -> bool:
    """No further vote can change the outcome's winner, or the question can no longer reach consensus.

    Adaptive voting stops a question here. The leader is safe once it leads by more than the votes left;
    consensus is out of reach once even all remaining votes for the leader fall short of min_consensus.
    """
    drawn = len(completions)
    remaining = votes - drawn
    if remaining <= 0:
        return True
    result = tally(counted_answers(completions, policy))
    counts = [g.count for g in result.groups]
    leader = counts[0] if counts else 0
    runner_up = counts[1] if len(counts) > 1 else 0
    if leader > runner_up + remaining:
        return True
    base = result.extracted if policy.drop_unfinished_votes else drawn
    best = (leader + remaining) / (base + remaining)
    return best < policy.min_consensus - 1e-12


def adaptive_waves(votes: int) -> int:
    """Most waves an adaptive question can take (the first, then one vote each)."""
    return 1 + votes - first_wave(votes)
