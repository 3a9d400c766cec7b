"""The tables of the question sources (bait + self-dedup, or ``--questions-from``): every decided
candidate, the accepted questions with their embeddings, the embeddings of ``--exclude`` files, and bait
batches sampled before the embedding mean existed.

Both sources record their decisions here the same way, so voting, export, resume and the reports read
one set of rows whichever made the questions.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np

from crescent.pipeline.bait import MAX_RAW_CHARS, Candidate
from crescent.pipeline.tasks import BaitResult
from crescent.store import Table

NO_SIMILARITY = -1e30  # a recorded -inf: the index held nothing to compare with (similarity.py)


class CandidateTable(Table):
    """One row per decided candidate (a bait sample, or a row of the question file), in attempt order."""

    NAME = "candidates"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS candidates (
  attempt INTEGER PRIMARY KEY, batch INTEGER NOT NULL, raw TEXT NOT NULL, question TEXT,
  status TEXT NOT NULL, reason TEXT, similarity REAL, tokens INTEGER NOT NULL);
"""

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])

    def insert(
        self,
        *,
        attempt: int,
        batch: int,
        raw: str,
        question: str | None,
        status: str,
        reason: str | None,
        similarity: float | None,
        tokens: int,
    ) -> None:
        self.db.execute(
            "INSERT INTO candidates (attempt, batch, raw, question, status, reason, similarity, tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (attempt, batch, raw[:MAX_RAW_CHARS], question, status, reason, similarity, tokens),
        )

    def last_batch(self) -> int | None:
        return self.db.execute("SELECT MAX(batch) FROM candidates").fetchone()[0]

    def attempts_in(self, batch: int) -> set[int]:
        return {a for (a,) in self.db.execute("SELECT attempt FROM candidates WHERE batch = ?", (batch,))}

    def decisions(self) -> Iterator[tuple[str | None, str, str | None, int]]:
        """``(question, status, reason, tokens)`` of every candidate (what the bait counters count)."""
        yield from self.db.execute("SELECT question, status, reason, tokens FROM candidates")

    def similarities(self) -> list[tuple[float, str]]:
        """``(similarity, status)`` of the candidates that met an accepted question, in attempt order."""
        return self.db.execute(
            "SELECT similarity, status FROM candidates WHERE similarity IS NOT NULL AND similarity > ?"
            " ORDER BY attempt",
            (NO_SIMILARITY,),
        ).fetchall()


class QuestionTable(Table):
    """The accepted questions in the order they were accepted, with their centered embedding (empty for
    a question read from a file: nothing is deduplicated against it)."""

    NAME = "questions"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
  id TEXT PRIMARY KEY, attempt INTEGER NOT NULL UNIQUE, question TEXT NOT NULL, vector BLOB NOT NULL);
"""

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM questions").fetchone()[0])

    def insert(self, question_id: str, attempt: int, question: str, vector: bytes) -> None:
        self.db.execute(
            "INSERT INTO questions (id, attempt, question, vector) VALUES (?, ?, ?, ?)",
            (question_id, attempt, question, vector),
        )

    def texts(self) -> list[str]:
        return [q for (q,) in self.db.execute("SELECT question FROM questions")]

    def first(self, limit: int | None = None) -> list[tuple[str, str]]:
        """``(id, question)`` of the first ``limit`` accepted questions (all of them for ``None``)."""
        return self.db.execute(
            "SELECT id, question FROM questions ORDER BY attempt LIMIT ?", (-1 if limit is None else limit,)
        ).fetchall()

    def embedded(self) -> tuple[list[str], np.ndarray | None]:
        """Every accepted question and its stored vector, in order (the dedup index of a resumed run)."""
        rows = self.db.execute("SELECT question, vector FROM questions ORDER BY attempt").fetchall()
        if not rows:
            return [], None
        return [q for q, _ in rows], np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])


class RawBaitTable(Table):
    """Bait batches sampled before the embedding mean existed, kept until they are decided."""

    NAME = "raw_bait"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_bait (
  batch INTEGER PRIMARY KEY, candidates TEXT NOT NULL, vectors BLOB NOT NULL);
"""

    def save(self, batch: int, result: BaitResult) -> None:
        rows = [[c.attempt, c.raw[:MAX_RAW_CHARS], c.question, c.reason, c.tokens] for c in result.candidates]
        buffer = io.BytesIO()
        np.save(buffer, result.vectors, allow_pickle=False)  # dtype and shape kept: the mean must not drift
        self.db.execute(
            "INSERT OR REPLACE INTO raw_bait (batch, candidates, vectors) VALUES (?, ?, ?)",
            (batch, json.dumps(rows, ensure_ascii=False), buffer.getvalue()),
        )

    def load(self) -> list[tuple[int, BaitResult]]:
        loaded = []
        for batch, rows, blob in self.db.execute(
            "SELECT batch, candidates, vectors FROM raw_bait ORDER BY batch"
        ):
            candidates = [Candidate(*row) for row in json.loads(rows)]
            loaded.append((batch, BaitResult(candidates, np.load(io.BytesIO(blob), allow_pickle=False))))
        return loaded

    def clear(self) -> None:
        self.db.execute("DELETE FROM raw_bait")


class ExcludedTable(Table):
    """Embeddings of each ``--exclude`` file, keyed by its contents, computed once per run folder."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS excluded (
  sha256 TEXT PRIMARY KEY, rows INTEGER NOT NULL, vectors BLOB NOT NULL);
"""

    def get(self, sha256: str, rows: int) -> np.ndarray | None:
        """The stored vectors of the file with this sha256, if they are its ``rows`` questions'."""
        row = self.db.execute("SELECT rows, vectors FROM excluded WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None or row[0] != rows:
            return None
        return np.frombuffer(row[1], dtype=np.float32).reshape(rows, -1)

    def put(self, sha256: str, vectors: np.ndarray) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO excluded VALUES (?, ?, ?)", (sha256, len(vectors), vectors.tobytes())
        )
