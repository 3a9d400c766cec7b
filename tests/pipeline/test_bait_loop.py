"""The bait + dedup state object: a scheduler that hands it batches one at a time, with other work in
between, gets exactly the decisions of the ``generate`` driver."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from crescent.config import GenerateConfig
from crescent.executors.local import LocalExecutor
from crescent.migrations import MIGRATIONS
from crescent.pipeline.bait_loop import BaitLoop
from crescent.pipeline.bait_tables import RawBaitTable
from crescent.pipeline.generate import SCHEMA, generate
from crescent.pipeline.tasks import run_bait_batch
from crescent.session import Session
from crescent.store import RunStore

CANDIDATES = "SELECT attempt, batch, raw, question, status, reason, similarity, tokens FROM candidates"


def _config(out: Path) -> GenerateConfig:
    return GenerateConfig(out=out, backend="fake", questions=20, votes=3, quiet=True, batch_size=2)


def _rows(out: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(out / "run.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_a_loop_driven_one_batch_at_a_time_decides_as_the_driver_does(tmp_path: Path) -> None:
    config = _config(tmp_path / "stepped")
    executor = LocalExecutor(config)
    store = RunStore(config.out, SCHEMA, kind="generate", migrations=MIGRATIONS)
    try:
        loop = BaitLoop(config, store, executor, Session(store))
        assert loop.stopped() is None
        loop.restore()
        saved_raw, stopped = 0, None
        for task in loop.tasks():
            result = run_bait_batch(executor.local_backend, task)
            with store.transaction():  # someone else's work between two batches
                store.count("elsewhere", "calls")
            waiting = loop.dedup is None
            stopped = loop.add(task.batch, result)
            if waiting and loop.pending:  # no mean yet: the batch waits, saved raw (a kill keeps it)
                saved_raw += 1
                assert len(RawBaitTable(store.db).load()) == len(loop.pending)
            if stopped:
                break
        assert stopped == "target_reached" and loop.accepted == config.questions
        assert saved_raw and loop.pending == [] and RawBaitTable(store.db).load() == []
    finally:
        store.close()
    whole = generate(_config(tmp_path / "driven"))
    assert whole.stats.stop_reason == stopped
    assert _rows(config.out, CANDIDATES) == _rows(tmp_path / "driven", CANDIDATES)
    questions = "SELECT id, attempt, question, vector FROM questions ORDER BY attempt"
    assert _rows(config.out, questions) == _rows(tmp_path / "driven", questions)
