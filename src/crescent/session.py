"""One invocation of a resumable run (generate, eval, audit): its lifecycle and its meter.

``open_run`` is the run-folder lifecycle (``crescent.run_folder``) with a store: inputs are read by the
caller, ``--out`` is checked and locked against a second process, the backend is loaded, and only then is
the fingerprint bound to the store, so a typo in ``--model`` never ties the folder to it; a run that fails
before producing anything leaves no store behind, so the corrected command starts afresh. Each driver
names its work tables (``work``), which decides whether a store holds work and what an interrupt message
says was saved.

``Session`` meters wall time and tokens per invocation: a run's throughput is its tokens over the wall
time that produced them, summed over every invocation that did work, so a run resumed three times still
reports an honest tokens/s.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crescent import interrupts
from crescent.executors import Executor, create_executor
from crescent.run_folder import RunFolder, bind_store
from crescent.store import STORE_NAME, Migration, RunStore, Table, count_rows

if TYPE_CHECKING:
    from crescent.config import RunConfig


class SessionTable(Table):
    """One row per invocation that did work: its wall time and the tokens it generated."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  id INTEGER PRIMARY KEY, wall_s REAL NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0);
"""

    def start(self) -> int:
        return self.db.execute("INSERT INTO sessions (wall_s, tokens) VALUES (0, 0)").lastrowid

    def meter(self, session_id: int, wall_s: float, tokens: int) -> None:
        self.db.execute(
            "UPDATE sessions SET wall_s = ?, tokens = tokens + ? WHERE id = ?", (wall_s, tokens, session_id)
        )

    def rows(self) -> list[tuple[int, float, int]]:
        """``(id, wall_s, tokens)`` of every session, in order."""
        return self.db.execute("SELECT id, wall_s, tokens FROM sessions ORDER BY id").fetchall()

    def totals(self) -> tuple[float, int, int]:
        wall, tokens, count = self.db.execute(
            "SELECT COALESCE(SUM(wall_s), 0), COALESCE(SUM(tokens), 0), COUNT(*) FROM sessions"
        ).fetchone()
        return float(wall), int(tokens), int(count)


SCHEMA = SessionTable.SCHEMA


class Session:
    """Wall time and tokens of this invocation, added to the store with each commit."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.started = time.perf_counter()
        self.id: int | None = None

    def commit(self, tokens: int) -> None:
        """Call inside a transaction; the row is created with the first work, so no-op reruns add none."""
        table = SessionTable(self.store.db)
        if self.id is None:
            self.id = table.start()
        table.meter(self.id, time.perf_counter() - self.started, tokens)


@dataclass
class OpenRun:
    store: RunStore
    executor: Executor
    session: Session
    resumed: bool


Work = dict[str, str]
"""What a driver has saved, as ``{noun: table}``, e.g. ``{"scored items": "items"}`` (the tables' owners
name them): a store where every table is empty holds no work."""


@contextmanager
def open_run(
    config: RunConfig,
    out: Path,
    *,
    kind: str,
    schema: str,
    fingerprint: dict[str, Any],
    work: Work,
    executor: Executor | None = None,
    migrations: Sequence[Migration] = (),
) -> Iterator[OpenRun]:
    """The executor (made here unless given) and the bound store of one invocation, closed on exit.

    ``--out`` stays locked until the block ends. On failure a store this invocation created that holds
    no work is discarded.
    """
    with RunFolder(out, kind, STORE_NAME).hold(lambda: describe_saved(out / STORE_NAME, work)):
        owns_executor = executor is None
        store: RunStore | None = None
        resumed = False
        try:
            if executor is None:
                executor = create_executor(
                    config.executor, config, workers=config.workers, address=config.ray_address
                )
            store = RunStore(out, schema, kind=kind, migrations=migrations)
            resumed = bind_store(store, fingerprint, holds_work=any(count_work(store.db, work).values()))
            yield OpenRun(store, executor, Session(store), resumed)
        except BaseException:
            if store is not None and not resumed and not any(count_work(store.db, work).values()):
                store.discard()
                store = None
            raise
        finally:
            if owns_executor and executor is not None:
                executor.close()
            if store is not None:
                store.close()


def count_work(db: sqlite3.Connection, work: Work) -> dict[str, int]:
    return {noun: count_rows(db, table) for noun, table in work.items()}


def describe_saved(path: Path, work: Work) -> str:
    """What the store at ``path`` holds, read on a connection of its own: the interrupt watchdog calls
    this from another thread while the main one may be stuck, and only committed work counts."""
    if not path.is_file():
        return interrupts.NOTHING_SAVED
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            counts = count_work(db, work)
        finally:
            db.close()
    except sqlite3.Error:
        return "what was saved could not be read"
    saved = [f"{n} {noun}" for noun, n in counts.items() if n]
    return "saved " + ", ".join(saved) if saved else interrupts.NOTHING_SAVED


def totals(store: RunStore | sqlite3.Connection) -> tuple[float, int, int]:
    """``(wall_s, tokens, sessions)`` over every invocation that did work (of a store, or a read-only
    connection to one)."""
    return SessionTable(store if isinstance(store, sqlite3.Connection) else store.db).totals()


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
