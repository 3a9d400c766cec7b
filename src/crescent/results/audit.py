"""``audit.json``: how often kept labels equal gold answers, under the configured label policy and its
variations (``eval/audit.py`` writes it; the audit page and the dataset card read it)."""

from __future__ import annotations

from pydantic import Field

from crescent.results.base import ConfigEcho, Number, Record, Summary


class LabelScore(Record):
    """Labels kept, how many equal the gold answer, and the two shares; no precision when none is kept.

    Only the shares are required here and below: the card reads nothing else, and a summary written by
    hand for a card (as the export tests do) has always been accepted."""

    kept: int | None = None
    correct: int | None = None
    coverage: Number
    precision: Number | None = None
    precision_ci95: list[Number] | None = None


class ThresholdScore(LabelScore):
    min_consensus: Number


class VotesScore(LabelScore):
    votes: int
    tie_rate: Number


class AdaptiveReplay(LabelScore):
    votes_drawn: int
    votes_fixed: int
    votes_saved: Number


class FilterEffect(Record):
    """What switching one label filter off changes (``by_filter``, keyed by the filter's option)."""

    removed: int | None = None
    wrong_removed: int | None = None
    precision_without: Number | None = None
    coverage_without: Number


class AuditSummary(Summary):
    FILE = "audit.json"

    n: int
    votes: int
    first_vote_accuracy: Number | None = None
    majority_accuracy: Number | None = None
    default: LabelScore
    plain_majority: LabelScore
    by_threshold: list[ThresholdScore] = Field(default_factory=list)
    by_filter: dict[str, FilterEffect] = Field(default_factory=dict)
    greedy_accuracy: Number | None = None  # None: --greedy was not run
    by_votes: list[VotesScore] | None = None  # fixed voting only
    adaptive_replay: AdaptiveReplay | None = None  # fixed voting only
    config: ConfigEcho = Field(default_factory=ConfigEcho)  # the run's AuditConfig as JSON
