"""experiments/snapshot_store.py: a whole, self-contained copy of a store that is still being written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from repo_scripts import load_script

snapshot_store = load_script("experiments/snapshot_store.py")


def test_the_copy_holds_rows_still_in_the_write_ahead_log(tmp_path: Path) -> None:
    source = tmp_path / "run.sqlite"
    live = sqlite3.connect(source)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")  # every row stays in run.sqlite-wal, as in a busy run
    live.execute("CREATE TABLE votes (id INTEGER)")
    live.executemany("INSERT INTO votes VALUES (?)", [(i,) for i in range(50)])
    live.commit()

    dest = tmp_path / "copy" / "run.sqlite"
    snapshot_store.snapshot(source, dest)
    live.close()

    copy = sqlite3.connect(dest)
    assert copy.execute("SELECT count(*) FROM votes").fetchone() == (50,)
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not (tmp_path / "copy" / "run.sqlite-wal").exists()


def test_a_file_that_is_not_a_store_is_never_overwritten(tmp_path: Path) -> None:
    source = tmp_path / "run.sqlite"
    sqlite3.connect(source).execute("CREATE TABLE t (x)").connection.commit()
    precious = tmp_path / "notes.txt"
    precious.write_text("mine")
    with pytest.raises(SystemExit, match=r"notes\.txt exists and is not a SQLite store"):
        snapshot_store.snapshot(source, precious)
    assert precious.read_text() == "mine"
