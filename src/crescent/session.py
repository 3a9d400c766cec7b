"""The meter every resumable driver (generate, eval, audit) keeps: wall time and tokens per invocation.

A run's throughput is its tokens over the wall time that produced them, summed over every invocation
that did work, so a run resumed three times still reports an honest tokens/s.
"""

from __future__ import annotations

import time

from crescent.store import RunStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  id INTEGER PRIMARY KEY, wall_s REAL NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0);
"""


class Session:
    """Wall time and tokens of this invocation, added to the store with each commit."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.started = time.perf_counter()
        self.id: int | None = None

    def commit(self, tokens: int) -> None:
        """Call inside a transaction; the row is created with the first work, so no-op reruns add none."""
        if self.id is None:
            self.id = self.store.db.execute("INSERT INTO sessions (wall_s, tokens) VALUES (0, 0)").lastrowid
        self.store.db.execute(
            "UPDATE sessions SET wall_s = ?, tokens = tokens + ? WHERE id = ?",
            (time.perf_counter() - self.started, tokens, self.id),
        )


def totals(store: RunStore) -> tuple[float, int, int]:
    """``(wall_s, tokens, sessions)`` over every invocation that did work."""
    wall, tokens, count = store.db.execute(
        "SELECT COALESCE(SUM(wall_s), 0), COALESCE(SUM(tokens), 0), COUNT(*) FROM sessions"
    ).fetchone()
    return float(wall), int(tokens), int(count)


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
