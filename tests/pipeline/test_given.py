"""``generate --questions-from``: the seed-dataset baseline votes on a file's questions, never its answers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crescent.config import GenerateConfig
from crescent.errors import ConfigMismatch, CrescentError
from crescent.pipeline.generate import generate


def _seed_file(path: Path, n: int = 8) -> Path:
    # Gold answers deliberately wrong: a label equal to one of them would prove they were read.
    rows = [
        {
            "question": f"Ben has {3 * i + 2} marbles and finds {i + 7} more. How many marbles now?",
            "answer": "-1",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines()]


def _config(out: Path, source: Path, **overrides) -> GenerateConfig:
    values = dict(out=out, backend="fake", questions_from=source, questions=5, votes=3, quiet=True)
    return GenerateConfig(**(values | overrides))


def test_votes_on_the_first_questions_in_file_order_without_their_answers(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl")
    result = generate(_config(tmp_path / "run", source))
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    voted = [q for (q,) in db.execute("SELECT question FROM questions ORDER BY attempt")]
    assert voted == _questions(source)[:5]
    rows = [json.loads(line) for line in result.data_path.read_text().splitlines()]
    assert rows and all(r["question"] in voted and r["answer"] != "-1" for r in rows)
    stats = result.stats.as_json()
    assert stats["source"] == {
        "kind": "file",
        "path": "../seed.jsonl",  # relative to the run folder
        "sha256": stats["source"]["sha256"],
        "file_rows": 8,
        "rows_read": 5,
        "whole_file": False,
    }
    assert stats["stop_reason"] == "target_reached" and stats["bait"]["attempts"] == 5
    assert stats["bait"]["tokens"] == 0 and stats["vote"]["questions"] == 5
    assert "5 questions, 5 rows read from --questions-from;" in result.describe()


def test_more_questions_than_the_file_takes_all_of_it_and_says_so(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl", n=4)
    stats = generate(_config(tmp_path / "run", source, questions=50)).stats.as_json()
    assert stats["stop_reason"] == "file_exhausted" and stats["bait"]["accepted"] == 4
    assert stats["source"]["whole_file"] and stats["source"]["rows_read"] == 4


def test_exclude_duplicates_and_overlong_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl", n=6)
    questions = _questions(source)
    with source.open("a") as handle:  # a repeat differing only in case and spacing, then an absurd row
        handle.write(json.dumps({"question": "  " + questions[1].upper()}) + "\n")
        handle.write(json.dumps({"question": "x " * 15_000}) + "\n")
    benchmark = tmp_path / "bench.jsonl"
    benchmark.write_text(json.dumps({"question": questions[0]}) + "\n")
    stats = generate(_config(tmp_path / "run", source, questions=20, exclude=[benchmark])).stats.as_json()
    assert stats["bait"]["rejected"] == {"excluded_exact": 1, "exact_duplicate": 1, "too_long": 1}
    assert stats["bait"]["attempts"] == 8 and stats["bait"]["accepted"] == 5


def test_a_shared_13_gram_with_an_excluded_question_drops_it(tmp_path: Path) -> None:
    source = tmp_path / "seed.jsonl"
    shared = "a farmer plants seven rows of corn with twelve plants in each row and then"
    source.write_text(
        json.dumps({"question": f"Yesterday {shared} sells 20. How many are left?"})
        + "\n"
        + json.dumps({"question": "Ava has 3 coins and buys 4 more. How many coins now?"})
        + "\n"
    )
    benchmark = tmp_path / "bench.jsonl"
    benchmark.write_text(json.dumps({"question": f"Today {shared} gives 5 away. How many remain?"}) + "\n")
    stats = generate(_config(tmp_path / "run", source, exclude=[benchmark])).stats.as_json()
    assert stats["bait"]["rejected"] == {"excluded_ngram": 1} and stats["bait"]["accepted"] == 1


def test_rerun_with_more_questions_extends_like_a_fresh_run(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl")
    generate(_config(tmp_path / "run", source, questions=3))
    extended = generate(_config(tmp_path / "run", source, questions=6))
    fresh = generate(_config(tmp_path / "fresh", source, questions=6))
    assert extended.stats.resumed and extended.stats.sessions == 2
    assert extended.data_path.read_text() == fresh.data_path.read_text()
    assert extended.stats.bait == fresh.stats.bait and extended.stats.vote.votes_drawn == 18
    assert generate(_config(tmp_path / "run", source, questions=6)).stats.sessions == 2  # no work, no session


def test_a_changed_file_is_refused_a_moved_one_is_not(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl")
    generate(_config(tmp_path / "run", source, questions=3))
    moved = source.rename(tmp_path / "moved.jsonl")
    assert generate(_config(tmp_path / "run", moved, questions=3)).stats.source.path == "../moved.jsonl"
    with moved.open("a") as handle:
        handle.write(json.dumps({"question": "Cleo has 2 pens and buys 9 more. How many pens now?"}) + "\n")
    with pytest.raises(ConfigMismatch, match="questions_from_sha256"):
        generate(_config(tmp_path / "run", moved, questions=3))


def test_a_bait_run_cannot_be_resumed_from_a_file_nor_the_other_way(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl")
    generate(GenerateConfig(out=tmp_path / "bait", backend="fake", questions=3, votes=3, quiet=True))
    with pytest.raises(ConfigMismatch, match="questions_from_sha256"):
        generate(_config(tmp_path / "bait", source, questions=3))
    generate(_config(tmp_path / "file", source, questions=3))
    with pytest.raises(ConfigMismatch, match="questions_from_sha256"):
        generate(GenerateConfig(out=tmp_path / "file", backend="fake", questions=3, votes=3, quiet=True))


def test_a_bad_file_fails_before_a_run_exists(tmp_path: Path) -> None:
    bad = tmp_path / "seed.jsonl"
    bad.write_text('{"question": "What is 2 + 2?"}\n{"answer": "4"}\n')
    with pytest.raises(CrescentError, match=r"seed\.jsonl:2: missing or empty field 'question'"):
        generate(_config(tmp_path / "run", bad))
    assert not (tmp_path / "run").exists()


def test_a_file_of_only_excluded_questions_is_one_clear_error(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl", n=2)
    with pytest.raises(CrescentError, match=r"none of the 2 questions read from .*seed\.jsonl"):
        generate(_config(tmp_path / "run", source, exclude=[source]))


@pytest.mark.slow
def test_sigkill_while_voting_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    source = _seed_file(tmp_path / "seed.jsonl", n=12)

    def cmd(out: Path) -> list[str]:
        args = ["--backend", "fake", "--model", "delay=0.01", "--questions-from", str(source)]
        args += ["--questions", "12", "--votes", "4", "--batch-size", "2", "--quiet", "--out", str(out)]
        return [sys.executable, "-m", "crescent", "generate", *args]

    subprocess.run(cmd(tmp_path / "reference"), check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120

    def outcomes() -> int:
        try:
            with sqlite3.connect(killed / "run.sqlite", timeout=5) as db:
                return db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    while outcomes() < 2:
        assert proc.poll() is None, proc.stderr.read().decode()[-500:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert outcomes() < 12
    subprocess.run(cmd(killed), check=True, capture_output=True)
    assert (killed / "data.jsonl").read_text() == (tmp_path / "reference" / "data.jsonl").read_text()
    with sqlite3.connect(killed / "run.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 12 * 4
        assert db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == 12
