"""A real ``crescent generate`` process killed with SIGKILL mid-run, then resumed.

The interrupted-and-resumed run must end with exactly the rows an uninterrupted
run produces: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARGS = [
    "--backend",
    "fake",
    "--model",
    "delay=0.01,distinct=1000",
    "--questions",
    "24",
    "--votes",
    "4",
    "--batch-size",
    "8",
    "--dedup-threshold",
    "0.95",
    "--quiet",
]


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "crescent", "generate", *ARGS, "--out", str(out)]


def _count(db_path: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db_path, timeout=5) as db:
            return db.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the table does not exist yet


def _kill_when(out: Path, sql: str, at_least: int) -> None:
    proc = subprocess.Popen(_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _count(out / "run.sqlite", sql) < at_least:
        assert proc.poll() is None, (
            f"run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
        )
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "sql", "at_least"),
    [("bait", "SELECT COUNT(*) FROM candidates", 1), ("vote", "SELECT COUNT(*) FROM outcomes", 3)],
)
def test_sigkill_then_resume_loses_and_duplicates_nothing(
    tmp_path: Path, stage: str, sql: str, at_least: int
) -> None:
    reference = tmp_path / "reference"
    subprocess.run(_cmd(reference), check=True, capture_output=True)

    killed = tmp_path / f"killed-{stage}"
    _kill_when(killed, sql, at_least)
    assert not (killed / "data.jsonl").exists() or stage == "vote"
    subprocess.run(_cmd(killed), check=True, capture_output=True)

    assert (killed / "data.jsonl").read_text() == (reference / "data.jsonl").read_text()
    db = killed / "run.sqlite"
    for table in ("candidates", "questions", "votes", "outcomes"):
        sql = f"SELECT COUNT(*) FROM {table}"
        assert _count(db, sql) == _count(reference / "run.sqlite", sql), table
    assert _count(db, "SELECT COUNT(*) FROM questions") == 24
    assert _count(db, "SELECT COUNT(*) FROM outcomes") == 24
    assert _count(db, "SELECT COUNT(*) FROM votes") == 24 * 4
    assert _count(db, "SELECT COUNT(*) FROM sessions") == 2


# Two samples per slot x 2 slots = 8 samples per call: the first 32 cleaned questions (which fix the
# embedding mean) take several calls, so a kill lands while no candidate has been decided yet.
EARLY_ARGS = [
    *ARGS[: ARGS.index("--batch-size")],
    "--batch-size",
    "2",
    *ARGS[ARGS.index("--batch-size") + 2 :],
]


def _early_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "crescent", "generate", *EARLY_ARGS, "--out", str(out)]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_a_kill_before_the_embedding_mean_exists_loses_only_the_call_in_flight(
    tmp_path: Path, signum: signal.Signals
) -> None:
    reference = tmp_path / "reference"
    subprocess.run(_early_cmd(reference), check=True, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_early_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _count(killed / "run.sqlite", "SELECT COUNT(*) FROM raw_bait") < 2:
        assert proc.poll() is None, proc.stderr.read().decode()[-500:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sent = time.monotonic()
    os.kill(proc.pid, signum)
    proc.wait(timeout=10)
    assert time.monotonic() - sent < 3.0
    assert proc.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 130)
    saved = _count(killed / "run.sqlite", "SELECT COUNT(*) FROM raw_bait")
    assert saved >= 2 and _count(killed / "run.sqlite", "SELECT COUNT(*) FROM candidates") == 0

    subprocess.run(_early_cmd(killed), check=True, capture_output=True)
    assert (killed / "data.jsonl").read_text() == (reference / "data.jsonl").read_text()
    db = killed / "run.sqlite"
    for table in ("candidates", "questions", "votes", "outcomes"):
        sql = f"SELECT COUNT(*) FROM {table}"
        assert _count(db, sql) == _count(reference / "run.sqlite", sql), table
    assert _count(db, "SELECT COUNT(*) FROM raw_bait") == 0
    sql = "SELECT group_concat(attempt || status || coalesce(similarity, ''), ',') FROM candidates"
    assert _count(db, sql) == _count(reference / "run.sqlite", sql)  # the same decisions, in order
