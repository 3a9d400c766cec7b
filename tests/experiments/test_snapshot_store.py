"""experiments/snapshot_store.py: the command line over crescent.store.snapshot_store (tested in
tests/test_store.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from repo_scripts import load_script

snapshot_store = load_script("experiments/snapshot_store.py")


def test_the_script_copies_a_store(tmp_path: Path) -> None:
    source = tmp_path / "run.sqlite"
    db = sqlite3.connect(source)
    db.execute("CREATE TABLE votes (id INTEGER)")
    db.execute("INSERT INTO votes VALUES (7)")
    db.commit()
    dest = tmp_path / "partial" / "run.sqlite"
    snapshot_store.main([str(source), str(dest)])
    assert sqlite3.connect(dest).execute("SELECT id FROM votes").fetchall() == [(7,)]


def test_a_bad_path_is_a_one_line_exit_that_names_it_and_keeps_the_file(tmp_path: Path) -> None:
    source = tmp_path / "run.sqlite"
    sqlite3.connect(source).execute("CREATE TABLE t (x)").connection.commit()
    precious = tmp_path / "notes.txt"
    precious.write_text("mine")
    with pytest.raises(SystemExit, match=r"^snapshot_store: .*notes\.txt exists and is not a SQLite store"):
        snapshot_store.main([str(source), str(precious)])
    assert precious.read_text() == "mine"
