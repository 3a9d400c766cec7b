"""The tables of an ``eval`` run: each scored item with its outputs, and the items that were skipped.

An item and its outputs are written in one transaction (``sample_and_record``), so a rerun scores only
the items not yet here; ``results.json`` and ``predictions.jsonl`` are written from these rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from crescent.backends.base import Completion
from crescent.pipeline.labels import MAX_SOLUTION_CHARS
from crescent.store import Table

Outputs = dict[str, list[tuple[str, str | None, str | None]]]
"""item id -> ``[(text, answer, finish_reason)]``, in the order sampled."""


@dataclass(frozen=True)
class ScoredItem:
    """One ``items`` row: how an item was answered and scored."""

    id: str
    question: str
    gold: str
    prediction: str | None
    correct: bool
    consensus: float
    counts: dict[str, int]
    tokens: int


class ItemTable(Table):
    NAME = "items"
    OUTPUTS = "outputs"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
  position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, question TEXT NOT NULL, gold TEXT NOT NULL,
  prediction TEXT, correct INTEGER NOT NULL, consensus REAL NOT NULL, counts TEXT NOT NULL,
  tokens INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outputs (
  item_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, answer TEXT, tokens INTEGER NOT NULL,
  finish_reason TEXT, PRIMARY KEY (item_id, idx));
"""

    def correct_by_id(self) -> dict[str, bool]:
        return {
            item_id: bool(correct) for item_id, correct in self.db.execute("SELECT id, correct FROM items")
        }

    def insert(
        self,
        item: ScoredItem,
        position: int,
        completions: list[Completion],
        answers: list[str | None],
    ) -> None:
        """The item and its outputs (inside the caller's transaction)."""
        for idx, (completion, answer) in enumerate(zip(completions, answers, strict=True)):
            self.db.execute(
                "INSERT INTO outputs (item_id, idx, text, answer, tokens, finish_reason)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    item.id,
                    idx,
                    completion.text[:MAX_SOLUTION_CHARS],
                    answer,
                    completion.tokens,
                    completion.finish_reason,
                ),
            )
        self.db.execute(
            "INSERT INTO items (position, id, question, gold, prediction, correct, consensus, counts, tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                position,
                item.id,
                item.question,
                item.gold,
                item.prediction,
                int(item.correct),
                item.consensus,
                json.dumps(item.counts, ensure_ascii=False),
                item.tokens,
            ),
        )

    def first(self, limit: int) -> list[ScoredItem]:
        """The scored items among the first ``limit`` positions, in order."""
        return [
            ScoredItem(
                item_id, question, gold, prediction, bool(correct), consensus, json.loads(counts), tokens
            )
            for item_id, question, gold, prediction, correct, consensus, counts, tokens in self.db.execute(
                "SELECT id, question, gold, prediction, correct, consensus, counts, tokens FROM items"
                " WHERE position < ? ORDER BY position",
                (limit,),
            )
        ]

    def outputs(self, limit: int) -> Outputs:
        """The outputs of the scored items among the first ``limit`` positions, in order."""
        outputs: Outputs = {}
        for item_id, text, answer, finish in self.db.execute(
            "SELECT o.item_id, o.text, o.answer, o.finish_reason FROM outputs o"
            " JOIN items i ON i.id = o.item_id WHERE i.position < ? ORDER BY i.position, o.idx",
            (limit,),
        ):
            outputs.setdefault(item_id, []).append((text, answer, finish))
        return outputs

    def tokens(self) -> int:
        """Every token this store ever generated (items beyond a lowered ``--limit`` included)."""
        return int(self.db.execute("SELECT COALESCE(SUM(tokens), 0) FROM items").fetchone()[0])


class SkippedTable(Table):
    """Items whose prompt did not fit the context, with the reason; ``results.json`` lists them."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS skipped (id TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""

    def add(self, item_id: str, reason: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO skipped (id, reason) VALUES (?, ?)", (item_id, reason))

    def reasons(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, reason FROM skipped").fetchall())
