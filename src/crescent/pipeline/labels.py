"""Turning K sampled solutions into one training label, or into a reasoned refusal.

The paper keeps the most frequent final answer when enough votes agree. A model that agrees with itself
is not thereby right, so the policy adds filters, each switchable and each counted with its reason.
Each filter is one ``LabelFilter`` in ``LABEL_FILTERS`` (name = the reason it records, the option that
switches or tunes it, its predicate, a one-line description), registered once below with ``register``;
``decide``, the audit's ``by_filter`` table, the generate report and the dataset card all iterate that
registry, so a new filter is one ``register`` call (plus its option on ``VotingConfig``, if it has one).
In the order ``decide`` applies them (the first that rejects names the reason):

- ``no_answer``: no counted vote has an answer. ``drop_unfinished_votes`` tunes what counts: a vote cut
  at ``max_tokens`` or without an extractable answer does not vote (it neither supports nor dilutes
  consensus; the paper's rule counts it against consensus);
- ``self_check`` (off by default): the same model, asked whether the question has exactly one numeric
  answer, said no (``crescent.pipeline.self_check``; its stored verdict is passed to ``decide``);
- ``too_few_votes`` (``min_valid_votes``): a label needs at least this many votes that did vote (or all,
  if fewer were drawn);
- ``tie`` (``drop_ties``): no majority when two answers share the top count (the paper's rule breaks the
  tie by whichever came first, so a 1-1 split among two valid votes would pass a 0.5 threshold);
- ``low_consensus`` (``min_consensus``): the winning share is below the threshold (the paper's rule);
- ``too_easy`` (``max_consensus``): an optional difficulty band (R-Zero keeps questions 30-70 % of votes
  agree on);
- ``arithmetic_error`` (``arithmetic_check``): the chosen solution's stated ``a op b = c`` steps must
  hold (``crescent.arithmetic``); a winning answer with no such solution is dropped;
- ``shortcut`` (``shortcut_filter``): the answer is a number copied from the question and the solution
  does no valid arithmetic ("finish by 10 minutes?" -> 10): agreement on a shortcut, not a solved problem.

Labels are a pure function of the stored votes (and verdicts) and this policy, so a run can be
relabelled under another policy without sampling again (the audit and the ablation do exactly that).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from typing import Any

import crescent.arithmetic as arithmetic
from crescent.answers import Tally, extract_answer, normalize_answer, tally
from crescent.backends.base import Completion
from crescent.config import VotingConfig

MAX_SOLUTION_CHARS = 8000  # model output is untrusted; a training target never exceeds this
_QUESTION_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")

PROMPT_TOO_LONG = "prompt_too_long"  # not a label filter: the question's prompt did not fit the context


def _default(name: str) -> Any:
    """A label option's default, read from ``VotingConfig`` (its one home), so the two never disagree."""
    return VotingConfig.model_fields[name].default


@dataclass(frozen=True)
class LabelPolicy:
    """The label options of ``VotingConfig`` (``LABEL_FIELDS``) as a plain value ``decide`` can take."""

    min_consensus: float = _default("min_consensus")
    max_consensus: float = _default("max_consensus")
    drop_unfinished_votes: bool = _default("drop_unfinished_votes")
    drop_ties: bool = _default("drop_ties")
    min_valid_votes: int = _default("min_valid_votes")
    arithmetic_check: bool = _default("arithmetic_check")
    shortcut_filter: bool = _default("shortcut_filter")
    self_check: bool = _default("self_check")
    disabled: frozenset[str] = field(default=frozenset())
    """Filters switched off by name: how the audit measures a filter that has no option of its own."""

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

    def options(self) -> dict[str, Any]:
        """The label options as recorded in a run's plan, stats.json and audit.json (``disabled`` is an
        audit-only variation, never a configured one, so it is left out and old records still match)."""
        return {name: value for name, value in self.__dict__.items() if name != "disabled"}


@dataclass(frozen=True)
class Label:
    """What a question's votes decided: kept or dropped (and why), and the winning answer and solution.
    Both the decision as it is made (``VoteOutcome``) and as the store holds it (``StoredOutcome``)."""

    kept: bool
    reason: str | None
    answer: str | None
    solution: str | None
    consensus: float
    counts: dict[str, int]


@dataclass(frozen=True)
class VoteOutcome(Label):
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


@dataclass
class Ballot:
    """One question's votes as the filters see them: counted and tallied, with the winning solutions and
    their arithmetic worked out only when a filter (or the kept label) asks for them."""

    completions: Sequence[Completion]
    policy: LabelPolicy
    question: str | None
    verdict: bool | None
    answers: list[str | None]
    result: Tally
    _checks: dict[int, arithmetic.ArithmeticReport] = field(default_factory=dict)

    @cached_property
    def consensus(self) -> float:
        valid = self.result.extracted if self.policy.drop_unfinished_votes else self.result.total
        if self.result.winner is None or not valid:
            return 0.0
        return self.result.groups[0].count / valid

    @cached_property
    def texts(self) -> list[str]:
        """The winning answer's solutions, finished ones first, each capped."""
        winners = list(self.result.groups[0].indices)
        finished = [i for i in winners if self.completions[i].finish_reason == "stop"]
        ordered = finished + [i for i in winners if i not in finished]
        return [self.completions[i].text.strip()[:MAX_SOLUTION_CHARS] for i in ordered]

    def check(self, index: int) -> arithmetic.ArithmeticReport:
        """The arithmetic report of ``texts[index]``, computed once."""
        if index not in self._checks:
            self._checks[index] = arithmetic.check(self.texts[index])
        return self._checks[index]

    @cached_property
    def passing(self) -> list[int]:
        """Indices into ``texts`` that may be the label: those whose arithmetic holds, under the check."""
        if not self.policy.arithmetic_check:
            return list(range(len(self.texts)))
        return [i for i in range(len(self.texts)) if self.check(i).holds]

    @property
    def chosen(self) -> int:
        """The label's solution; every winning one when the arithmetic filter is switched off by name."""
        return self.passing[0] if self.passing else 0


@dataclass(frozen=True)
class LabelFilter:
    """One reason a question gets no label."""

    name: str
    """The rejection reason recorded for a question it drops (stats.json's ``vote.dropped``)."""
    option: str | None
    """The ``VotingConfig`` field that switches or tunes it; also its key in the audit's ``by_filter``."""
    off: Any
    """The option's value that switches the filter off, or for an option that only tunes it
    (``drop_unfinished_votes`` for ``no_answer``) its loosest value: the audit's "without" variation."""
    rejects: Callable[[Ballot], bool]
    """True when the question must not be labelled; the policy's options are read from the ballot."""
    description: str
    audited: bool = True
    """False for a filter the audit measures otherwise (``min_consensus``: its ``by_threshold`` sweep)."""

    @property
    def key(self) -> str:
        return self.option or self.name

    def switched_off(self, policy: LabelPolicy) -> LabelPolicy:
        """The policy without this filter: its option set to ``off``, or its name disabled."""
        if self.option is not None:
            return replace(policy, **{self.option: self.off})
        return replace(policy, disabled=policy.disabled | {self.name})


LABEL_FILTERS: dict[str, LabelFilter] = {}
"""Every label filter by name, in the order ``decide`` applies them."""


def register(label_filter: LabelFilter) -> LabelFilter:
    """Add a filter after those already registered (a reason names exactly one filter)."""
    if label_filter.name in LABEL_FILTERS or label_filter.name == PROMPT_TOO_LONG:
        raise ValueError(f"label filter '{label_filter.name}' is already registered")
    LABEL_FILTERS[label_filter.name] = label_filter
    return label_filter


def _tied(ballot: Ballot) -> bool:
    groups = ballot.result.groups
    return ballot.policy.drop_ties and len(groups) > 1 and groups[1].count == groups[0].count


def _shortcut(ballot: Ballot) -> bool:
    if not ballot.policy.shortcut_filter or ballot.question is None or ballot.result.winner is None:
        return False
    copied = copied_from_question(ballot.result.winner, ballot.question)
    return copied and ballot.check(ballot.chosen).valid == 0


register(
    LabelFilter(
        "no_answer",
        "drop_unfinished_votes",
        False,
        lambda b: b.result.winner is None,
        "no counted vote has an answer (with drop_unfinished_votes, cut votes do not count)",
    )
)
register(  # not a problem at all: the first thing to report
    LabelFilter(
        "self_check",
        "self_check",
        False,
        lambda b: b.policy.self_check and b.verdict is False,
        "the model said the question has no single numeric answer",
    )
)
register(
    LabelFilter(
        "too_few_votes",
        "min_valid_votes",
        1,
        # min(): when one vote is asked, one is needed
        lambda b: b.result.extracted < min(b.policy.min_valid_votes, len(b.completions)),
        "fewer votes with an answer than min_valid_votes",
    )
)
register(LabelFilter("tie", "drop_ties", False, _tied, "two answers share the top vote count"))
register(
    LabelFilter(
        "low_consensus",
        "min_consensus",
        0.0,
        lambda b: b.consensus < b.policy.min_consensus,
        "the winning answer's share of the votes is below min_consensus",
        audited=False,
    )
)
register(
    LabelFilter(
        "too_easy",
        "max_consensus",
        1.0,
        lambda b: b.consensus > b.policy.max_consensus,
        "the winning answer's share of the votes is above max_consensus",
    )
)
register(
    LabelFilter(
        "arithmetic_error",
        "arithmetic_check",
        False,
        lambda b: b.policy.arithmetic_check and not b.passing,
        "no winning solution's stated 'a op b = c' steps all hold",
    )
)
register(
    LabelFilter(
        "shortcut",
        "shortcut_filter",
        False,
        _shortcut,
        "the answer is a number copied from the question and the solution does no valid arithmetic",
    )
)


def filter_rows(policy: Mapping[str, Any], dropped: Mapping[str, int]) -> list[list[Any]]:
    """One row per filter for a report or card: name, option, its value in ``policy``, questions it
    dropped (``dropped``: stats.json's ``vote.dropped``) and what it drops."""
    return [
        [
            f.name,
            f.option or "—",
            policy.get(f.option, "—") if f.option else "on",
            dropped.get(f.name, 0),
            f.description,
        ]
        for f in LABEL_FILTERS.values()
    ]


FILTER_COLUMNS = ["filter", "option", "value", "dropped", "drops a question when"]


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
    ballot = Ballot(completions, policy, question, verdict, answers, result)
    for label_filter in LABEL_FILTERS.values():
        if label_filter.name not in policy.disabled and label_filter.rejects(ballot):
            return VoteOutcome(
                False, label_filter.name, result.winner, None, ballot.consensus, counts, answers
            )
    solution = ballot.texts[ballot.chosen]
    loser = least_voted(result, completions)
    rejected, rejected_votes = (None, 0) if loser is None else loser
    passing = ballot.passing or list(range(len(ballot.texts)))
    paths = distinct_paths([ballot.texts[i] for i in passing])
    return VoteOutcome(
        True,
        None,
        result.winner,
        solution,
        ballot.consensus,
        counts,
        answers,
        paths,
        rejected,
        rejected_votes,
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
