"""The run store's schema version: runs written by earlier releases open, migrate and resume.

``tests/fixtures/store_vN`` holds run stores of schema version N, each written with the fake backend by the
first commit of that version: v1 by crescent 0.1 (07abbc1), v2 by a7b2164 (versions and migrations), v3 by
67eb639 (steps own their counters). Each has a generate run of 6 questions (``--votes 3 --batch-size 4``) and
an eval of the first 4 items of ``bench.jsonl``.
"""

from __future__ import annotations

import ast
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from crescent.config import EvalConfig, GenerateConfig
from crescent.errors import CrescentError
from crescent.eval.run import evaluate
from crescent.migrations import MIGRATIONS, SCHEMA_VERSION
from crescent.pipeline.generate import generate
from crescent.store import RunStore, snapshot_store

VERSIONS = (1, 2, 3)


def _fixtures(version: int) -> Path:
    return Path(__file__).parent / "fixtures" / f"store_v{version}"


def _old_run(tmp_path: Path, name: str, version: int = 1) -> Path:
    out = tmp_path / name
    out.mkdir()
    shutil.copy(_fixtures(version) / f"{name}.sqlite", out / "run.sqlite")
    return out


def _written_version(version: int) -> str | None:
    return None if version == 1 else str(version)  # version 1 recorded none


def _meta(out: Path, key: str) -> str | None:
    row = (
        sqlite3.connect(out / "run.sqlite").execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    )
    return row and row[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_older_generate_run_resumes_as_if_it_had_never_stopped(tmp_path: Path, version: int) -> None:
    old = _old_run(tmp_path, "generate", version)
    assert _meta(old, "schema_version") == _written_version(version)
    options = dict(backend="fake", votes=3, batch_size=4, quiet=True)
    resumed = generate(GenerateConfig(out=old, questions=10, **options))
    assert _meta(old, "schema_version") == str(SCHEMA_VERSION)
    assert resumed.stats.resumed and resumed.stats.bait.accepted == 10
    fresh = generate(GenerateConfig(out=tmp_path / "fresh", questions=10, **options))
    assert resumed.data_path.read_text() == fresh.data_path.read_text()  # votes kept, labels redone


@pytest.mark.parametrize("version", VERSIONS)
def test_an_older_generate_run_tops_up_to_more_votes(tmp_path: Path, version: int) -> None:
    old = _old_run(tmp_path, "generate", version)
    before = (
        sqlite3.connect(old / "run.sqlite").execute("SELECT question_id, idx, text FROM votes").fetchall()
    )
    options = dict(backend="fake", votes=5, batch_size=4, quiet=True, questions=6)
    topped = generate(GenerateConfig(out=old, **options))
    fresh = generate(GenerateConfig(out=tmp_path / "fresh", **options))
    after = sqlite3.connect(old / "run.sqlite").execute("SELECT question_id, idx, text FROM votes").fetchall()
    assert set(before) < set(after) and len(after) == 6 * 5
    assert topped.data_path.read_text() == fresh.data_path.read_text()
    assert topped.pairs_path.read_text() == fresh.pairs_path.read_text()


@pytest.mark.parametrize("version", VERSIONS)
def test_an_older_eval_resumes(tmp_path: Path, version: int) -> None:
    old = _old_run(tmp_path, "eval", version)
    assert _meta(old, "schema_version") == _written_version(version)
    data = _fixtures(version) / "bench.jsonl"
    result = evaluate(EvalConfig(out=old, data=data, limit=8, backend="fake", quiet=True))
    assert result.results.n == 8 and result.results.resumed
    assert _meta(old, "schema_version") == str(SCHEMA_VERSION)


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run", "", kind="generate", migrations=MIGRATIONS)
    store.set_meta("schema_version", SCHEMA_VERSION + 1)
    store.close()
    with pytest.raises(CrescentError, match="newer crescent"):
        RunStore(tmp_path / "run", "", kind="generate", migrations=MIGRATIONS)


def test_a_full_disk_when_the_store_is_created_is_one_line_and_leaves_no_empty_store(
    tmp_path: Path, full_disk: Callable[[int | None], None]
) -> None:
    full_disk(None)
    out = tmp_path / "run"
    with pytest.raises(CrescentError, match=r"the disk holding .*run\.sqlite is full; free some space"):
        RunStore(out, "CREATE TABLE IF NOT EXISTS t (x INTEGER);", kind="test")
    assert not out.exists()  # no 0-byte run.sqlite that would make the folder look like a run


def test_a_full_disk_in_a_transaction_is_a_crescent_error_and_keeps_the_committed_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(tmp_path, "CREATE TABLE IF NOT EXISTS t (x TEXT);", kind="test")
    with store.transaction():
        store.db.execute("INSERT INTO t VALUES ('kept')")
    used = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {used}")
    with pytest.raises(CrescentError, match="is full; free some space and rerun"), store.transaction():
        store.db.executemany("INSERT INTO t VALUES (?)", [("x" * 2000,)] * 50)
    assert store.db.execute("SELECT x FROM t").fetchall() == [("kept",)]


# --- One home for the SQL: each table's owner (a ``Table`` subclass) and the store itself. -------------

ROOT = Path(__file__).resolve().parents[1]
SQL = re.compile(r"\b(SELECT|INSERT|DELETE FROM|CREATE TABLE|ALTER TABLE|PRAGMA|UPDATE \w+ SET)\b")
SQL_CALLS = {"execute", "executemany", "executescript", "scalar"}


def _sql_outside_tables(path: Path) -> list[str]:
    """``file:line`` of each SQL string or query call in ``path`` outside the body of a ``Table`` subclass
    (docstrings, which only mention SQL, aside)."""
    tree = ast.parse(path.read_text())
    inside: set[int] = set()
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        is_table = isinstance(node, ast.ClassDef) and any(
            isinstance(base, ast.Name) and base.id == "Table" for base in node.bases
        )
        if is_table:
            inside |= {id(child) for child in ast.walk(node)}
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            docstrings.add(id(body[0].value))
    found = []
    for node in ast.walk(tree):
        if id(node) in inside or id(node) in docstrings:
            continue
        is_sql = isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value)
        is_call = isinstance(node, ast.Attribute) and node.attr in SQL_CALLS
        if is_sql or is_call:
            found.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{node.lineno}")
    return found


def test_no_sql_outside_the_tables_owners_and_the_store() -> None:
    """Each step owns its tables behind typed methods (a ``Table`` subclass next to the step); drivers,
    reports, scripts, benchmarks and experiments call those methods, so a query written anywhere else
    fails here."""
    sources = [p for p in (ROOT / "src" / "crescent").rglob("*.py") if p.name != "store.py"]
    sources += [p for d in ("scripts", "benchmarks", "experiments") for p in (ROOT / d).glob("*.py")]
    offenders = [where for path in sources for where in _sql_outside_tables(path)]
    assert not offenders, offenders


def test_the_scan_finds_a_query_written_outside_a_table(tmp_path: Path) -> None:
    path = ROOT / "src" / "crescent" / "pipeline" / "generate.py"
    assert _sql_outside_tables(path) == []
    source = path.read_text() + '\n\ndef _bypass(store):\n    return store.db.execute("SELECT 1")\n'
    bypass = tmp_path / "generate.py"
    bypass.write_text(source)
    assert len(_sql_outside_tables(bypass)) == 2  # the SQL string and the execute call


def test_each_table_is_created_by_one_owner() -> None:
    """``CREATE TABLE x`` appears once in the package: the schema is not glued from copies."""
    created = re.findall(
        r"CREATE TABLE IF NOT EXISTS (\w+)",
        "".join(p.read_text() for p in (ROOT / "src" / "crescent").rglob("*.py")),
    )
    assert len(created) == len(set(created)) and {"candidates", "votes", "outcomes", "sessions"} <= set(
        created
    )


def test_the_migrations_are_one_list_in_version_order() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(versions) and versions[-1] == SCHEMA_VERSION
    assert all(m.kinds for m in MIGRATIONS)


# --- snapshot_store: a whole, self-contained copy of a store that is still being written. -------------


def test_a_snapshot_holds_rows_still_in_the_write_ahead_log(tmp_path: Path) -> None:
    source = tmp_path / "run.sqlite"
    live = sqlite3.connect(source)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")  # every row stays in run.sqlite-wal, as in a busy run
    live.execute("CREATE TABLE votes (id INTEGER)")
    live.executemany("INSERT INTO votes VALUES (?)", [(i,) for i in range(50)])
    live.commit()

    dest = tmp_path / "copy" / "run.sqlite"
    snapshot_store(source, dest)
    live.close()

    copy = sqlite3.connect(dest)
    assert copy.execute("SELECT count(*) FROM votes").fetchone() == (50,)
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not (tmp_path / "copy" / "run.sqlite-wal").exists()
    assert [p.name for p in (tmp_path / "copy").iterdir()] == ["run.sqlite"]  # no temp file left behind


def test_a_snapshot_leaves_a_users_file_named_like_a_temp_file_alone(tmp_path: Path) -> None:
    source = tmp_path / "run.sqlite"
    sqlite3.connect(source).execute("CREATE TABLE t (x)").connection.commit()
    notes = tmp_path / "copy" / "run.sqlite.partial"
    notes.parent.mkdir()
    notes.write_text("user notes")
    snapshot_store(source, tmp_path / "copy" / "run.sqlite")
    assert notes.read_text() == "user notes"


def test_a_snapshot_replaces_an_older_snapshot_but_never_a_file_of_another_kind(tmp_path: Path) -> None:
    source = tmp_path / "run.sqlite"
    db = sqlite3.connect(source)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    dest = tmp_path / "snap.sqlite"
    snapshot_store(source, dest)
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    snapshot_store(source, dest)
    assert sqlite3.connect(dest).execute("SELECT count(*) FROM t").fetchone() == (1,)

    precious = tmp_path / "notes.txt"
    precious.write_text("mine")
    with pytest.raises(CrescentError, match=r"notes\.txt exists and is not a SQLite store"):
        snapshot_store(source, precious)
    assert precious.read_text() == "mine"
    with pytest.raises(CrescentError, match=r"missing\.sqlite: no such store"):
        snapshot_store(tmp_path / "missing.sqlite", tmp_path / "out.sqlite")
