"""experiments/format_control.py: first-vote rows, question by question, read through the tables' owners."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fixture_runs import generate_run
from repo_scripts import load_script

format_control = load_script("experiments/format_control.py")


def test_rows_take_vote_0_of_every_question_then_vote_1(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run", poison=False, questions=4, votes=3)
    db = sqlite3.connect(run / "run.sqlite")
    questions = db.execute("SELECT id, question FROM questions ORDER BY attempt").fetchall()
    votes = {(qid, idx): text for qid, idx, text in db.execute("SELECT question_id, idx, text FROM votes")}
    db.close()
    rows = format_control.first_vote_rows(run, 6)
    assert [(r["id"], r["vote"]) for r in rows] == [(q, 0) for q, _ in questions] + [
        (q, 1) for q, _ in questions[:2]
    ]
    for row in rows:
        assert row["solution"] == votes[(row["id"], row["vote"])]
        assert row["messages"][1] == {"role": "assistant", "content": row["solution"]}
    before = (run / "run.sqlite").read_bytes()
    with pytest.raises(SystemExit, match="holds only 12 votes"):
        format_control.first_vote_rows(run, 13)
    assert (run / "run.sqlite").read_bytes() == before  # read-only
