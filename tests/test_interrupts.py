"""Interrupting a run: the message says what was saved, and a store left with no work binds nothing.

Real ``crescent`` processes on the fake backend, slowed down (``delay``) so a signal or a SIGKILL lands
while the first batch is in flight, i.e. before anything was committed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli

from crescent.interrupts import Interrupts, reporting

SUMS = [
    {"question": f"Mia has {a} shells and finds 7 more. How many now?", "answer": str(a + 7)}
    for a in range(8)
]


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _argv(kind: str, tmp_path: Path, delay: float, *extra: str) -> list[str]:
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SUMS))
    common = ["--backend", "fake", "--model", f"delay={delay}", "--quiet", "--out", str(tmp_path / "run")]
    if kind == "eval":
        return ["eval", "--data", str(data), "--batch-size", "1", *common, *extra]
    return ["generate", "--questions", "4", "--votes", "3", *common, *extra]


def _query(store: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def _start_and_wait(argv: list[str], store: Path, sql: str, at_least: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "crescent", *argv], stderr=subprocess.PIPE, env=_env())
    deadline = time.monotonic() + 60
    while _query(store, sql) < at_least:
        assert proc.poll() is None, proc.communicate()[1].decode()[-500:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


BOUND = "SELECT COUNT(*) FROM meta WHERE key = 'config'"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["eval", "generate"])
def test_a_kill_during_the_first_batch_does_not_tie_the_folder_to_its_options(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old behaviour: the config was bound, nothing committed, and every rerun with other options was
    refused ("holds a run with a different config") although the folder held nothing."""
    proc = _start_and_wait(_argv(kind, tmp_path, 30), tmp_path / "run" / "run.sqlite", BOUND, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    code, _, err = run_cli(_argv(kind, tmp_path, 0, "--seed", "7"), capsys)
    assert code == 0, err
    assert (
        json.loads((tmp_path / "run" / ("results.json" if kind == "eval" else "stats.json")).read_text())[
            "config"
        ]["seed"]
        == 7
    )


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_the_first_batch_says_nothing_was_saved(
    signum: signal.Signals, tmp_path: Path
) -> None:
    proc = _start_and_wait(_argv("eval", tmp_path, 30), tmp_path / "run" / "run.sqlite", BOUND, 1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signum
    assert err.decode().strip() == (
        f"error: interrupted by {signum.name}; nothing was saved: rerun the same command to start again"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_an_interrupt_after_some_work_says_how_much_was_saved(tmp_path: Path) -> None:
    store = tmp_path / "run" / "run.sqlite"
    proc = _start_and_wait(_argv("eval", tmp_path, 0.3), store, "SELECT COUNT(*) FROM items", 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    match = re.fullmatch(
        r"error: interrupted by SIGINT; saved (\d+) scored items, (\d+) answers: rerun the same command to "
        r"resume",
        err.decode().strip(),
    )
    assert match, err.decode()
    assert int(match[1]) == _query(store, "SELECT COUNT(*) FROM items") >= 2
    assert int(match[2]) == _query(store, "SELECT COUNT(*) FROM outputs")


def test_the_watchdog_reports_what_the_open_run_holds_now() -> None:
    """The hard exit after the grace period asks the run itself, while it is still open."""
    interrupts = Interrupts(report=print)
    interrupts.received = signal.SIGTERM
    with interrupts.installed():  # a fresh command: what earlier commands in this process said is gone
        assert interrupts.message() == "interrupted by SIGTERM"  # no run open: nothing to claim
    held = ["saved 3 votes"]
    with reporting(lambda: held[0]):
        assert (
            interrupts.message() == "interrupted by SIGTERM; saved 3 votes: rerun the same command to resume"
        )
        held[0] = "nothing was saved"
        assert interrupts.message().endswith("nothing was saved: rerun the same command to start again")
