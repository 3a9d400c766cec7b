"""The tables of voting: every drawn vote, and the label each question got from them (``vote.py``).

The same step labels generated questions (``generate``) and gold-answered ones (``audit``), so both
stores hold these tables; the generate report and the preference pairs read the outcomes through them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from crescent.backends.base import Completion
from crescent.pipeline.labels import Label, VoteOutcome
from crescent.store import Table

MAX_VOTE_CHARS = 20_000  # model output is untrusted: only this much of a vote is kept


class VoteTable(Table):
    """Vote ``idx`` of each question, in the order drawn (always a prefix of the question's votes)."""

    NAME = "votes"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
  question_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, answer TEXT,
  tokens INTEGER NOT NULL, finish_reason TEXT, PRIMARY KEY (question_id, idx));
"""

    def insert(self, question_id: str, idx: int, completion: Completion, answer: str | None) -> None:
        self.db.execute(
            "INSERT INTO votes (question_id, idx, text, answer, tokens, finish_reason)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                question_id,
                idx,
                completion.text[:MAX_VOTE_CHARS],
                answer,
                completion.tokens,
                completion.finish_reason,
            ),
        )

    def by_question(self) -> dict[str, list[Completion]]:
        """Every stored vote, in draw order, per question."""
        drawn: dict[str, list[Completion]] = {}
        for qid, text, tokens, finish in self.db.execute(
            "SELECT question_id, text, tokens, finish_reason FROM votes ORDER BY question_id, idx"
        ):
            drawn.setdefault(qid, []).append(Completion(text, tokens, finish or "stop"))
        return drawn

    def counted(self) -> Iterator[tuple[str | None, int, str | None]]:
        """``(answer, tokens, finish_reason)`` of every vote (what the vote counters count)."""
        yield from self.db.execute("SELECT answer, tokens, finish_reason FROM votes")

    def tokens(self) -> int:
        return int(self.db.execute("SELECT COALESCE(SUM(tokens), 0) FROM votes").fetchone()[0])


@dataclass(frozen=True)
class StoredOutcome(Label):
    """One ``outcomes`` row, decoded. Columns added by store version 4 are ``None`` in an older row
    until the run resumes and relabels it."""

    votes_used: int | None
    paths: list[str] | None
    rejected: str | None
    rejected_votes: int | None


class OutcomeTable(Table):
    """The label decided for each question, and how many of its votes it rests on."""

    NAME = "outcomes"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
  question_id TEXT PRIMARY KEY, kept INTEGER NOT NULL, reason TEXT, answer TEXT, solution TEXT,
  consensus REAL NOT NULL, counts TEXT NOT NULL, votes_used INTEGER, paths TEXT, rejected TEXT,
  rejected_votes INTEGER);
"""
    VERSION_4_COLUMNS: ClassVar[dict[str, str]] = {
        "votes_used": "INTEGER",
        "paths": "TEXT",
        "rejected": "TEXT",
        "rejected_votes": "INTEGER",
    }

    def add_version_4_columns(self) -> None:
        """Store version 4 (idempotent): a rerun may lower ``--votes``, so an outcome records how many of
        its question's votes it rests on (older outcomes rest on all of them), and the paths and rejected
        solution export writes (filled when the run resumes: its outcomes are decided again under the
        recorded plan)."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(outcomes)")}
        for name, kind in self.VERSION_4_COLUMNS.items():
            if name not in present:
                self.db.execute(f"ALTER TABLE outcomes ADD COLUMN {name} {kind}")
        self.db.execute(
            "UPDATE outcomes SET votes_used ="
            " (SELECT COUNT(*) FROM votes WHERE question_id = outcomes.question_id) WHERE votes_used IS NULL"
        )

    def decided(self) -> set[str]:
        return {qid for (qid,) in self.db.execute("SELECT question_id FROM outcomes")}

    def insert(self, question_id: str, outcome: VoteOutcome, votes_used: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO outcomes (question_id, kept, reason, answer, solution, consensus, counts,"
            " votes_used, paths, rejected, rejected_votes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                question_id,
                int(outcome.kept),
                outcome.reason,
                outcome.answer,
                outcome.solution,
                outcome.consensus,
                json.dumps(outcome.counts, ensure_ascii=False),
                votes_used,
                json.dumps(list(outcome.paths), ensure_ascii=False),
                outcome.rejected,
                outcome.rejected_votes,
            ),
        )

    def clear(self) -> None:
        self.db.execute("DELETE FROM outcomes")

    def counted(self) -> list[tuple[VoteOutcome, int | None]]:
        """Every outcome as the label counters count it, with the votes it rests on."""
        return [
            (VoteOutcome(bool(kept), reason, answer, None, consensus, {}, []), used)
            for kept, reason, answer, consensus, used in self.db.execute(
                "SELECT kept, reason, answer, consensus, votes_used FROM outcomes"
            ).fetchall()
        ]

    def by_question(self) -> dict[str, StoredOutcome]:
        """Every outcome by question id. A reader may hold a read-only connection to a store an older
        crescent wrote and never migrated (``report`` on an old run): its missing columns read as NULL."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(outcomes)")}
        added = ", ".join(name if name in present else "NULL" for name in self.VERSION_4_COLUMNS)
        rows = self.db.execute(
            f"SELECT question_id, kept, reason, answer, solution, consensus, counts, {added} FROM outcomes"
        )
        return {qid: _stored_outcome(*row) for qid, *row in rows}


def _stored_outcome(
    kept: int,
    reason: str | None,
    answer: str | None,
    solution: str | None,
    consensus: float,
    counts: str,
    used: int | None,
    paths: str | None,
    rejected: str | None,
    rejected_votes: int | None,
) -> StoredOutcome:
    return StoredOutcome(
        bool(kept),
        reason,
        answer,
        solution,
        consensus,
        json.loads(counts),
        used,
        json.loads(paths) if paths else None,
        rejected,
        rejected_votes,
    )
