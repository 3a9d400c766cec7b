"""The SQLite run store: every candidate, decision and vote of a run, and its config.

It plays the role of datatrove's completion markers: each unit of work (a bait
batch, one question's votes, one eval item) is written in a single transaction
together with its "done" mark, so a SIGKILL at any moment loses at most the work
in flight and a rerun never writes a row twice. WAL mode keeps readers (progress,
export) off the writer's back.

A run binds its config only once its inputs are read and its backend is loaded, and a run that fails
before producing anything removes its store again (``discard``): a typo in ``--model`` or a missing
``--base-url`` must not lock ``--out`` to the mistaken options. A store left holding no work by a process
that could not clean up (kill -9, or the interrupt watchdog's hard exit) binds nothing either: the next
run rebinds it to its own options (``crescent.run_folder.bind_store``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crescent.errors import CrescentError
from crescent.locking import LOCK_NAME, create_folder

STORE_NAME = "run.sqlite"
SCHEMA_VERSION = 4
"""Bumped with every change an older store needs help with; ``MIGRATIONS`` brings it up to date."""
_META_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
  step TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (step, name));
"""


class RunStore:
    def __init__(self, directory: Path, schema: str, kind: str, migrations: Sequence[Migration] = ()) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STORE_NAME
        self.kind = kind
        self.created_store = not self.path.exists()
        self.created_dir = not self.directory.exists()
        create_folder(self.directory)  # the folder's checks and lock are crescent.run_folder's
        self.db: sqlite3.Connection | None = None
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_META_SCHEMA + schema)
            stored_kind = self.get_meta("kind")
            if stored_kind is None:
                self.set_meta("kind", kind)
            elif stored_kind != kind:
                raise CrescentError(
                    f"{self.directory} holds a '{stored_kind}' run, not '{kind}'; use another --out directory"
                )
            migrate(self, migrations)
        except (sqlite3.DatabaseError, CrescentError, OSError) as exc:
            # A store this call created holds nothing yet: leave no (0-byte) run.sqlite behind, so that the
            # folder is not taken for a run once the cause (a full disk, say) is fixed.
            self.discard()
            if isinstance(exc, CrescentError):
                raise
            if disk_full(exc):
                raise CrescentError(_disk_full_message(self.path)) from exc
            raise CrescentError(
                f"{self.path} is not a usable run store ({exc}); use another --out directory"
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: the body's writes land together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException as exc:
            with contextlib.suppress(sqlite3.OperationalError):  # SQLite may have rolled back already
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and disk_full(exc):
                raise CrescentError(_disk_full_message(self.path)) from exc
            raise
        else:
            try:
                self.db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if disk_full(exc):
                    with contextlib.suppress(sqlite3.OperationalError):
                        self.db.execute("ROLLBACK")
                    raise CrescentError(_disk_full_message(self.path)) from exc
                raise

    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def count(self, step: str, name: str, by: float = 1) -> None:
        """A step's running counter (datatrove's ``stat_update``): call inside the transaction that records
        the decision it counts, so counters and rows never disagree, whatever kills the run."""
        self.db.execute(
            "INSERT INTO counters (step, name, value) VALUES (?, ?, ?)"
            " ON CONFLICT (step, name) DO UPDATE SET value = value + excluded.value",
            (step, name, by),
        )

    def counters(self, step: str) -> dict[str, float]:
        rows = self.db.execute("SELECT name, value FROM counters WHERE step = ? ORDER BY name", (step,))
        return {name: int(value) if float(value).is_integer() else value for name, value in rows}

    def reset_counters(self, *steps: str) -> None:
        self.db.executemany("DELETE FROM counters WHERE step = ?", [(step,) for step in steps])

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.db.execute(sql, params).fetchone()[0]

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def discard(self) -> None:
        """Remove a store this invocation created, and its folder if created too and now empty (under a
        command's folder lock the lock file keeps it; the lock removes a folder it created)."""
        self.close()
        if not self.created_store:
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        if self.created_dir:
            with contextlib.suppress(OSError):  # not empty: a lock file, or someone else wrote there
                self.directory.rmdir()


def disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full") or the OS's ENOSPC / EDQUOT (quota)."""
    if isinstance(exc, sqlite3.OperationalError):
        return "disk is full" in str(exc) or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _disk_full_message(path: Path) -> str:
    return (
        f"the disk holding {path} is full; free some space and rerun the same command "
        "(work already committed is kept)"
    )


def holds_files(directory: Path) -> bool:
    """Does ``directory`` hold anything besides crescent's lock file (which any run leaves behind)?"""
    return any(p.name != LOCK_NAME for p in Path(directory).iterdir())


def _label_options_leave_the_fingerprint(store: RunStore) -> None:
    """Version 2: labels became a pure function of the stored votes, so ``min_consensus`` no longer binds
    a generate run (changing it relabels); adaptive voting is new, and off in every older run. New
    tables (``raw_bait``) come from the schema's ``CREATE TABLE IF NOT EXISTS``."""
    config = store.get_meta("config")
    if store.kind != "generate" or config is None:
        return
    config.pop("min_consensus", None)
    config.setdefault("adaptive_votes", False)
    store.set_meta("config", config)


Migration = tuple[int, Callable[["RunStore"], None]]
MIGRATIONS: list[Migration] = [(2, _label_options_leave_the_fingerprint)]
"""``(version, step)`` in order, as simonw/llm keeps its migrations: each step runs once per store. A
driver adds the steps that need its own code (``RunStore(..., migrations=...)``)."""


def migrate(store: RunStore, extra: Sequence[Migration] = ()) -> None:
    """Bring a store written by an older crescent up to ``SCHEMA_VERSION`` (a new store starts there)."""
    version = store.get_meta("schema_version")
    if version is None:
        fresh = store.get_meta("config") is None and store.created_store
        version = SCHEMA_VERSION if fresh else 1  # stores before versioning are version 1
    if version > SCHEMA_VERSION:
        raise CrescentError(
            f"{store.path} was written by a newer crescent (store version {version} > {SCHEMA_VERSION}); "
            "upgrade crescent-llm or use another --out directory"
        )
    with store.transaction():
        for target, step in sorted([*MIGRATIONS, *extra], key=lambda m: m[0]):
            if target > version:
                step(store)
        store.set_meta("schema_version", SCHEMA_VERSION)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a crash never leaves a half-written output."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave a half-written temp file behind
        raise
