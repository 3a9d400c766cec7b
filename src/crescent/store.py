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

This module owns only the store itself (``meta``, ``counters``, transactions, versions). Each step owns
its tables (a ``Table`` subclass next to the step), and every upgrade of an older store is one entry of
the ordered list in ``crescent.migrations``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from crescent.errors import CrescentError
from crescent.locking import LOCK_NAME, create_folder
from crescent.owned_files import temp_beside

STORE_NAME = "run.sqlite"
_META_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
  step TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (step, name));
"""


class Table:
    """A step's tables behind typed methods (simonw/llm and datatrove keep a step's storage with the step).

    A subclass lives next to the step that owns its tables and is the only place their SQL is written:
    ``SCHEMA`` creates them, its methods read and write them. It wraps a connection, not a ``RunStore``,
    so a reader (``report``, ``scripts/measure_bait.py``) uses the same methods on a read-only connection
    (``runs.read_store``). Writes join the caller's open transaction (``RunStore.transaction``).
    """

    SCHEMA: ClassVar[str]

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db


def schema_of(*tables: type[Table]) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statements of a run kind's tables, from their owners."""
    return "".join(table.SCHEMA for table in tables)


@dataclass(frozen=True)
class Migration:
    """One step of the ordered list in ``crescent.migrations``: it upgrades a store of one of ``kinds``
    written before store version ``version``."""

    version: int
    kinds: tuple[str, ...]
    apply: Callable[[RunStore], None]


class RunStore:
    def __init__(self, directory: Path, schema: str, kind: str, migrations: Sequence[Migration] = ()) -> None:
        """Open (or create) the store of a ``kind`` run in ``directory``.

        A run kind's store is opened with ``crescent.migrations.MIGRATIONS`` (``open_run``'s callers pass
        it), which also says the current store version; a store opened without migrations (a test's
        scratch store) records no version.
        """
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
        return read_meta(self.db, key)

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


def read_meta(db: sqlite3.Connection, key: str) -> Any:
    """A ``meta`` value (``kind``, ``config``, ...) of a store, or of a read-only connection to one."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def count_rows(db: sqlite3.Connection, table: str) -> int:
    """Rows of one of a store's tables, by a name its owner gives (``Table`` subclasses, the work a
    driver has saved)."""
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


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


def migrate(store: RunStore, migrations: Sequence[Migration]) -> None:
    """Bring a store written by an older crescent up to the last version of ``migrations``, in order, and
    record that version (a new store starts there). Each step runs once per store, for its kinds."""
    if not migrations:
        return
    latest = max(m.version for m in migrations)
    version = store.get_meta("schema_version")
    if version is None:
        fresh = store.get_meta("config") is None and store.created_store
        version = latest if fresh else 1  # stores before versioning are version 1
    if version > latest:
        raise CrescentError(
            f"{store.path} was written by a newer crescent (store version {version} > {latest}); "
            "upgrade crescent-llm or use another --out directory"
        )
    with store.transaction():
        for migration in migrations:
            if migration.version > version and store.kind in migration.kinds:
                migration.apply(store)
        store.set_meta("schema_version", latest)


SQLITE_HEADER = b"SQLite format 3\x00"


def snapshot_store(source: Path, dest: Path) -> None:
    """Write a consistent, self-contained copy of the store ``source`` at ``dest``, even while a run is
    still writing to it.

    Why not ``cp``: in WAL mode the newest pages live in ``run.sqlite-wal`` until a checkpoint, so a copied
    ``run.sqlite`` alone can lack hours of votes. SQLite's backup API reads a consistent snapshot through
    the WAL; the copy is switched to a rollback journal (one file, fit for git) and moved into place
    atomically, so a reader never sees half a copy. Only an older snapshot is replaced, never a file of
    another kind.
    """
    if not source.is_file():
        raise CrescentError(f"{source}: no such store; give the run.sqlite of a started run")
    if dest.exists():
        with dest.open("rb") as file:
            if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise CrescentError(f"{dest} exists and is not a SQLite store; name a new path")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with temp_beside(dest, suffix=".partial") as partial:
        reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer)
            writer.execute("PRAGMA journal_mode=DELETE")
            writer.commit()
        finally:
            writer.close()
            reader.close()
        partial.replace(dest)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a crash never leaves a half-written output (and a full disk
    no half-written temp file: ``temp_beside`` removes it)."""
    with temp_beside(path) as tmp:
        tmp.write_text(text)
        tmp.replace(path)
