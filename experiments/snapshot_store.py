"""Copy a run's SQLite store whole, even while its run is still writing to it.

Why not `cp`: a store in WAL mode keeps its newest pages in run.sqlite-wal until a checkpoint, so a copied
run.sqlite alone can lack the last hours of votes. SQLite's backup API reads a consistent snapshot through the
WAL; the copy is switched to a rollback journal (one self-contained file, fit for git) and moved into place
atomically, so a reader never sees half a copy. Used to commit a stopped run's store (NAME-partial/) so a
fresh clone resumes it, and by experiments/common.sh `rescore` to score a finished audit's votes again
without touching the original.

    python experiments/snapshot_store.py SOURCE.sqlite DEST.sqlite
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"  # only an older snapshot is replaced, never a file of another kind


def _header(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(len(SQLITE_HEADER))


def snapshot(source: Path, dest: Path) -> None:
    """Write a consistent, self-contained copy of `source` at `dest` (replaced atomically)."""
    if not source.is_file():
        sys.exit(f"snapshot_store: {source}: no such store; give the run.sqlite of a started run")
    if dest.exists() and _header(dest) != SQLITE_HEADER:
        sys.exit(f"snapshot_store: {dest} exists and is not a SQLite store; name a new path")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    writer = sqlite3.connect(partial)
    try:
        reader.backup(writer)
        writer.execute("PRAGMA journal_mode=DELETE")
        writer.commit()
    finally:
        writer.close()
        reader.close()
    os.replace(partial, dest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the run's run.sqlite")
    parser.add_argument("dest", type=Path, help="where the copy goes (an older snapshot there is replaced)")
    args = parser.parse_args(argv)
    snapshot(args.source, args.dest)


if __name__ == "__main__":
    main()
