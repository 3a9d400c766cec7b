"""What each generate step counts, in one place: the names the steps increment and export reads.

Steps count their own decisions as they make them (``RunStore.count``, inside the transaction that
records the decision), as datatrove's steps call ``stat_update``; export only assembles the counters.
``recount`` rebuilds them from the rows, for stores written before counters existed (a migration) and
as the test that the running counters never drift from the rows.
"""

from __future__ import annotations

from crescent.pipeline.bait_tables import CandidateTable
from crescent.pipeline.labels import VoteOutcome
from crescent.pipeline.self_check import recount_verdicts
from crescent.pipeline.vote_tables import OutcomeTable, VoteTable
from crescent.store import RunStore

BAIT = "bait"  # attempts, cleaned, accepted, tokens
BAIT_REJECTED = "bait.rejected"  # reason -> candidates
VOTES = "votes"  # drawn, tokens, unfinished, extracted
LABELS = "labels"  # questions, kept, votes_used, consensus_sum, with_answer
LABELS_DROPPED = "labels.dropped"  # reason -> questions
LABELS_CONSENSUS = "labels.consensus"  # histogram bin -> questions with an answer
HISTOGRAM_BINS = 10


def consensus_bin(consensus: float) -> str:
    return str(min(int(consensus * HISTOGRAM_BINS), HISTOGRAM_BINS - 1))


def count_candidate(
    store: RunStore, *, cleaned: bool, accepted: bool, reason: str | None, tokens: int
) -> None:
    store.count(BAIT, "attempts")
    store.count(BAIT, "tokens", tokens)
    if cleaned:
        store.count(BAIT, "cleaned")
    if accepted:
        store.count(BAIT, "accepted")
    else:
        store.count(BAIT_REJECTED, str(reason))


def count_vote(store: RunStore, *, tokens: int, unfinished: bool, extracted: bool) -> None:
    store.count(VOTES, "drawn")
    store.count(VOTES, "tokens", tokens)
    if unfinished:
        store.count(VOTES, "unfinished")
    if extracted:
        store.count(VOTES, "extracted")


def count_outcome(store: RunStore, outcome: VoteOutcome, votes_used: int) -> None:
    store.count(LABELS, "questions")
    store.count(LABELS, "votes_used", votes_used)
    if outcome.kept:
        store.count(LABELS, "kept")
    else:
        store.count(LABELS_DROPPED, str(outcome.reason))
    if outcome.answer is not None:
        store.count(LABELS, "with_answer")
        store.count(LABELS, "consensus_sum", outcome.consensus)
        store.count(LABELS_CONSENSUS, consensus_bin(outcome.consensus))


def recount(store: RunStore) -> None:
    """Rebuild every counter of a generate store from its rows (call inside one transaction)."""
    store.reset_counters(BAIT, BAIT_REJECTED, VOTES)
    for question, status, reason, tokens in CandidateTable(store.db).decisions():
        count_candidate(
            store, cleaned=question is not None, accepted=status == "accepted", reason=reason, tokens=tokens
        )
    for answer, tokens, finish in VoteTable(store.db).counted():
        count_vote(store, tokens=tokens, unfinished=finish == "length", extracted=answer is not None)
    recount_verdicts(store)
    recount_outcomes(store)


def recount_outcomes(store: RunStore) -> None:
    """Rebuild the label counters from the outcome rows (relabelling replaces them all at once)."""
    store.reset_counters(LABELS, LABELS_DROPPED, LABELS_CONSENSUS)
    for outcome, used in OutcomeTable(store.db).counted():
        count_outcome(store, outcome, used or 0)
