"""The vote tables read through their owner, also from a store an older crescent wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

from crescent.pipeline.vote_tables import OutcomeTable, VoteTable
from crescent.runs import read_store

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_v1" / "generate.sqlite"


def test_a_version_1_store_reads_read_only_without_migrating(tmp_path: Path) -> None:
    """``report`` reads an old run as it is: the outcome columns of version 4 read as missing."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(FIXTURE, run / "run.sqlite")
    with read_store(run) as db:
        outcomes = OutcomeTable(db).by_question()
        votes = VoteTable(db).by_question()
    assert len(outcomes) == 6 and set(outcomes) == set(votes)
    assert all(
        o.votes_used is None and o.paths is None and o.rejected_votes is None for o in outcomes.values()
    )
    assert all(sum(o.counts.values()) <= len(votes[qid]) for qid, o in outcomes.items())
    assert (run / "run.sqlite").read_bytes() == FIXTURE.read_bytes()  # nothing was migrated
