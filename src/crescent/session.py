"""One invocation of a resumable run (generate, eval, audit): its lifecycle and its meter.

``open_run`` is the order every driver needs: inputs are read by the caller, ``--out`` is checked, the
backend is loaded, and only then is the config bound to the store, so a typo in ``--model`` never locks
the folder; a run that fails before producing anything leaves no store behind, so the corrected command
starts afresh. ``Session`` meters wall time and tokens per invocation: a run's throughput is its tokens
over the wall time that produced them, summed over every invocation that did work, so a run resumed
three times still reports an honest tokens/s.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crescent.executors import Executor, create_executor
from crescent.store import Migration, RunStore, check_out_dir, probe_writable

if TYPE_CHECKING:
    from crescent.config import RunConfig

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


@dataclass
class OpenRun:
    store: RunStore
    executor: Executor
    session: Session
    resumed: bool


@contextmanager
def open_run(
    config: RunConfig,
    out: Path,
    *,
    kind: str,
    schema: str,
    fingerprint: dict[str, Any],
    produced: Callable[[RunStore], bool],
    executor: Executor | None = None,
    migrations: Sequence[Migration] = (),
) -> Iterator[OpenRun]:
    """The executor (made here unless given) and the bound store of one invocation, closed on exit.

    ``produced(store)`` says whether the run holds any work; on failure a new run that holds none is
    discarded.
    """
    check_out_dir(out)
    probe_writable(out)
    owns_executor = executor is None
    store: RunStore | None = None
    resumed = False
    try:
        if executor is None:
            executor = create_executor(
                config.executor, config, workers=config.workers, address=config.ray_address
            )
        store = RunStore(out, schema, kind=kind, migrations=migrations)
        resumed = store.bind_config(fingerprint)
        yield OpenRun(store, executor, Session(store), resumed)
    except BaseException:
        if store is not None and not resumed and not produced(store):
            store.discard()
            store = None
        raise
    finally:
        if owns_executor and executor is not None:
            executor.close()
        if store is not None:
            store.close()


def totals(store: RunStore | sqlite3.Connection) -> tuple[float, int, int]:
    """``(wall_s, tokens, sessions)`` over every invocation that did work (of a store, or a read-only
    connection to one)."""
    db = store if isinstance(store, sqlite3.Connection) else store.db
    wall, tokens, count = db.execute(
        "SELECT COALESCE(SUM(wall_s), 0), COALESCE(SUM(tokens), 0), COUNT(*) FROM sessions"
    ).fetchone()
    return float(wall), int(tokens), int(count)


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
