"""The whole pipeline on the fake backend: output shape, resume, and config binding."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from crescent.config import GenerateConfig
from crescent.depth import BUCKETS
from crescent.errors import ConfigMismatch, CrescentError
from crescent.pipeline.generate import generate


def _config(out: Path, **overrides) -> GenerateConfig:
    values = dict(out=out, backend="fake", questions=12, votes=3, quiet=True, batch_size=8)
    values.update(overrides)
    return GenerateConfig(**values)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_writes_chat_rows_and_stats(tmp_path: Path) -> None:
    result = generate(_config(tmp_path / "run"))
    rows = _rows(result.data_path)
    assert rows and len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert set(row) >= {"id", "question", "answer", "solution", "votes", "consensus", "messages"}
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["question"] in row["messages"][0]["content"]
        assert row["messages"][1]["content"] == row["solution"]
        assert row["consensus"] >= 0.5 and sum(row["votes"].values()) == 3
    stats = result.stats.as_json()
    assert stats["bait"]["accepted"] == 12 and stats["stop_reason"] == "target_reached"
    assert stats["bait"]["attempts"] == stats["bait"]["accepted"] + sum(stats["bait"]["rejected"].values())
    assert stats["vote"]["kept"] == len(rows) == stats["export"]["rows"]
    # Paths relative to the run folder: a committed stats.json names no machine's directories.
    assert stats["export"]["path"] == "data.jsonl" and stats["pairs"]["path"] == "pairs.jsonl"
    assert sum(stats["vote"]["consensus_histogram"].values()) == stats["vote"]["questions"]
    # The fake backend's winning solutions state one true equation ("a + b = c"): depth 1, every row.
    assert stats["export"]["depth_histogram"] == dict.fromkeys(BUCKETS, 0) | {"1": len(rows)}
    assert stats["config"]["votes"] == 3 and json.loads(result.stats_path.read_text()) == stats


def test_output_loads_with_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    result = generate(_config(tmp_path / "run"))
    dataset = datasets.load_dataset("json", data_files=str(result.data_path), split="train")
    assert dataset.num_rows == result.stats.export.rows
    assert dataset[0]["messages"][0]["role"] == "user"


def test_no_accepted_question_is_a_near_duplicate(tmp_path: Path) -> None:
    config = _config(tmp_path / "run", questions=20, dedup_threshold=0.8)
    generate(config)
    db = sqlite3.connect(config.out / "run.sqlite")
    vectors = np.stack(
        [np.frombuffer(b, dtype=np.float32) for (b,) in db.execute("SELECT vector FROM questions")]
    )
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    assert sims.max() < 0.8


def test_budget_exhaustion_is_reported(tmp_path: Path) -> None:
    result = generate(_config(tmp_path / "run", questions=30, max_attempts=40, model="distinct=10"))
    assert result.stats.stop_reason == "budget_exhausted"
    assert result.stats.bait.attempts == 40 and result.stats.bait.accepted <= 10


def test_resume_extends_without_redoing_or_duplicating(tmp_path: Path) -> None:
    out = tmp_path / "run"
    generate(_config(out, questions=5))
    db = sqlite3.connect(out / "run.sqlite")
    votes_before = db.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
    second = generate(_config(out, questions=12))
    assert second.stats.resumed and second.stats.sessions == 2
    assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 12 * 3 > votes_before
    assert db.execute("SELECT COUNT(DISTINCT question_id) FROM outcomes").fetchone()[0] == 12
    fresh = generate(_config(tmp_path / "fresh", questions=12))
    assert fresh.data_path.read_text() == second.data_path.read_text()  # resume changes nothing


def test_rerun_with_contradicting_config_stops(tmp_path: Path) -> None:
    out = tmp_path / "run"
    generate(_config(out, questions=3))
    before = (out / "data.jsonl").read_text()
    with pytest.raises(ConfigMismatch, match="vote_temperature"):
        generate(_config(out, questions=3, vote_temperature=0.3))
    assert (out / "data.jsonl").read_text() == before


def test_garbage_model_fails_clearly_and_keeps_the_store(tmp_path: Path) -> None:
    config = _config(tmp_path / "run", model="garbage=1", questions=3, max_attempts=24)
    with pytest.raises(CrescentError, match="no usable question in 24 attempts"):
        generate(config)
    stats = json.loads((config.out / "stats.json").read_text())
    assert stats["bait"]["attempts"] == 24 and stats["bait"]["accepted"] == 0


def test_exclude_file_rejects_benchmark_questions(tmp_path: Path) -> None:
    first = generate(_config(tmp_path / "a", questions=4))
    taken = [row["question"] for row in _rows(first.data_path)]
    second = generate(_config(tmp_path / "b", questions=4, exclude=[first.data_path]))
    assert not set(taken) & {row["question"] for row in _rows(second.data_path)}
    assert sum(v for k, v in second.stats.bait.rejected.items() if k.startswith("excluded")) > 0
    # The excluded file's depth profile, counted from its solutions exactly as the kept rows' are.
    depths = {"../a/data.jsonl": first.stats.export.depth_histogram}
    assert second.stats.export.benchmark_depth_histograms == depths
    assert first.stats.export.benchmark_depth_histograms == {}


def test_a_resumed_run_does_not_embed_the_exclude_file_again(tmp_path: Path, monkeypatch) -> None:
    from crescent.backends.fake import FakeBackend

    benchmark = generate(_config(tmp_path / "bench", questions=4)).data_path
    excluded = [row["question"] for row in _rows(benchmark)]
    calls: list[list[str]] = []
    original = FakeBackend.embed

    def recording(self, texts):
        calls.append(list(texts))
        return original(self, texts)

    monkeypatch.setattr(FakeBackend, "embed", recording)
    generate(_config(tmp_path / "run", questions=4, exclude=[benchmark]))
    assert excluded in calls
    calls.clear()
    again = generate(_config(tmp_path / "run", questions=6, exclude=[benchmark]))
    assert calls and excluded not in calls  # new candidates are embedded, the benchmark is not
    assert again.stats.bait.accepted == 6
    assert not set(excluded) & {row["question"] for row in _rows(again.data_path)}


@pytest.mark.slow
def test_smoke_on_the_embedded_gguf(tmp_path: Path) -> None:
    """The real default model end to end: one bait call of 16 samples, 2 votes per question."""
    config = GenerateConfig(
        out=tmp_path / "run",
        questions=2,
        votes=2,
        batch_size=4,
        max_attempts=16,
        bait_max_tokens=64,
        vote_max_tokens=64,
        quiet=True,
    )
    result = generate(config)
    stats = result.stats.as_json()
    assert stats["stop_reason"] in {"target_reached", "budget_exhausted"}
    assert 1 <= stats["bait"]["accepted"] <= 2 and stats["bait"]["attempts"] <= 16
    db = sqlite3.connect(config.out / "run.sqlite")
    questions = [q for (q,) in db.execute("SELECT question FROM questions")]
    assert all(q.endswith("?") for q in questions)
    assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 2 * len(questions)
    assert stats["tokens_generated"] > 0 and stats["backend_usage_this_session"]["prefill_tokens"] > 0
    for row in _rows(result.data_path):
        assert row["messages"][1]["content"] == row["solution"] and row["answer"] is not None


@pytest.mark.slow
def test_raising_votes_on_the_embedded_gguf_tops_up_without_redrawing(tmp_path: Path) -> None:
    """The real model: the stored vote is kept as drawn and only the second vote of each question is new.

    (Equality with a fresh run is checked on the fake backend: llama.cpp does not promise bit-identical
    floats across batch shapes, so a vote decoded beside other votes can, rarely, differ.)
    """
    options = dict(
        out=tmp_path / "run", questions=2, batch_size=4, max_attempts=16, bait_max_tokens=64,
        vote_max_tokens=48, quiet=True, threads=1,
    )  # fmt: skip
    generate(GenerateConfig(votes=1, **options))
    before = _votes(tmp_path / "run")
    result = generate(GenerateConfig(votes=2, **options))
    after = _votes(tmp_path / "run")
    assert before and all(after[key] == text for key, text in before.items())
    assert sorted(after) == sorted([(q, 0) for q, _ in before] + [(q, 1) for q, _ in before])
    assert result.stats.vote.votes_drawn == len(after) and result.stats.sessions == 2


def _votes(out: Path) -> dict[tuple[str, int], str]:
    db = sqlite3.connect(out / "run.sqlite")
    return {(q, i): t for q, i, t in db.execute("SELECT question_id, idx, text FROM votes")}


def test_adaptive_votes_are_a_prefix_of_fixed_votes_and_cost_less(tmp_path: Path) -> None:
    fixed = generate(_config(tmp_path / "fixed", questions=12, votes=5, model="accuracy=0.9"))
    adaptive = generate(
        _config(tmp_path / "adaptive", questions=12, votes=5, model="accuracy=0.9", adaptive_votes=True)
    )
    fixed_votes, adaptive_votes = _votes(tmp_path / "fixed"), _votes(tmp_path / "adaptive")
    assert adaptive_votes and all(fixed_votes[key] == text for key, text in adaptive_votes.items())
    assert len(adaptive_votes) < len(fixed_votes) == 60
    used = _table(tmp_path / "adaptive", "SELECT SUM(votes_used) FROM outcomes")[0][0]
    # the labels rest on fewer votes; the last waves drew some ahead to fill the slots (unused, kept)
    assert adaptive.stats.vote.votes_saved == 60 - used > 0
    assert used <= len(adaptive_votes) == adaptive.stats.vote.votes_drawn
    assert fixed.stats.vote.votes_saved == 0
    per_question: dict[str, int] = {}
    for qid, _ in adaptive_votes:
        per_question[qid] = per_question.get(qid, 0) + 1
    assert min(per_question.values()) >= 3  # the first wave: the fewest votes that can settle a question


def test_changing_label_options_relabels_without_sampling(tmp_path: Path, monkeypatch) -> None:
    from crescent.backends.fake import FakeBackend

    out = tmp_path / "run"
    strict = generate(_config(out, questions=12, votes=3, model="accuracy=0.6", min_consensus=1.0))
    votes_before = _votes(out)
    monkeypatch.setattr(FakeBackend, "sample", lambda *a, **k: pytest.fail("relabelling must not sample"))
    loose = generate(_config(out, questions=12, votes=3, model="accuracy=0.6", min_consensus=0.3))
    assert _votes(out) == votes_before
    assert loose.stats.export.rows > strict.stats.export.rows
    assert loose.stats.vote.label_policy["min_consensus"] == 0.3
    assert all(row["consensus"] >= 0.3 for row in _rows(loose.data_path))


def test_step_counters_never_drift_from_the_rows(tmp_path: Path) -> None:
    """Steps count as they decide; across an extension and a relabel the counters equal a recount."""
    from crescent.pipeline import counting
    from crescent.pipeline.generate import SCHEMA
    from crescent.store import RunStore

    out = tmp_path / "run"
    generate(_config(out, questions=6, votes=3, model="accuracy=0.6"))
    result = generate(_config(out, questions=12, votes=3, model="accuracy=0.6", min_consensus=0.9))
    steps = (counting.BAIT, counting.BAIT_REJECTED, counting.VOTES, counting.LABELS, counting.LABELS_DROPPED)
    store = RunStore(out, SCHEMA, kind="generate")
    try:
        running = {step: store.counters(step) for step in steps}
        with store.transaction():
            counting.recount(store)
        assert running == {step: store.counters(step) for step in steps}
    finally:
        store.close()
    assert running[counting.BAIT]["attempts"] == result.stats.bait.attempts > 12
    assert running[counting.LABELS]["questions"] == 12 and running[counting.VOTES]["drawn"] == 36


def _table(out: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(out / "run.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


OUTCOMES = "SELECT question_id, kept, reason, answer, solution, consensus, counts, votes_used FROM outcomes"


@pytest.mark.parametrize("adaptive", [False, True])
def test_raising_votes_tops_up_to_exactly_a_fresh_run(tmp_path: Path, adaptive: bool) -> None:
    """K=2 then K=4 (and adaptive K=3 then K=8) equals a fresh run at the higher K; no vote is redrawn."""
    low, high = (3, 8) if adaptive else (2, 4)
    options = dict(questions=10, model="accuracy=0.6", adaptive_votes=adaptive)
    out = tmp_path / "run"
    generate(_config(out, votes=low, **options))
    before = _votes(out)
    topped = generate(_config(out, votes=high, **options))
    fresh = generate(_config(tmp_path / "fresh", votes=high, **options))
    after = _votes(out)
    assert all(after[key] == text for key, text in before.items())  # every stored vote kept as drawn
    assert after == _votes(tmp_path / "fresh") and len(after) > len(before)
    assert topped.stats.vote.votes_drawn == len(after) == fresh.stats.vote.votes_drawn
    assert topped.data_path.read_text() == fresh.data_path.read_text()
    assert _table(out, OUTCOMES + " ORDER BY 1") == _table(tmp_path / "fresh", OUTCOMES + " ORDER BY 1")
    assert topped.stats.vote == fresh.stats.vote


def test_lowering_votes_relabels_from_a_prefix_without_sampling(tmp_path: Path, monkeypatch) -> None:
    from crescent.backends.fake import FakeBackend

    out = tmp_path / "run"
    generate(_config(out, questions=10, votes=5, model="accuracy=0.6"))
    fresh = generate(_config(tmp_path / "fresh", questions=10, votes=3, model="accuracy=0.6"))
    monkeypatch.setattr(FakeBackend, "sample", lambda *a, **k: pytest.fail("a prefix needs no sampling"))
    lowered = generate(_config(out, questions=10, votes=3, model="accuracy=0.6"))
    assert lowered.data_path.read_text() == fresh.data_path.read_text()
    assert _table(out, OUTCOMES + " ORDER BY 1") == _table(tmp_path / "fresh", OUTCOMES + " ORDER BY 1")
    assert len(_votes(out)) == 50  # the votes beyond the third are kept for a later raise


def test_an_interrupted_top_up_resumes_to_a_fresh_run(tmp_path: Path, monkeypatch) -> None:
    from crescent.backends.fake import FakeBackend

    options = dict(questions=10, model="accuracy=0.6", batch_size=1)  # 2 questions' top-ups per call
    out = tmp_path / "run"
    generate(_config(out, votes=2, **options))
    original, calls = FakeBackend.sample, []

    def dies_on_the_third_call(self, requests, params):
        calls.append(len(requests))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, requests, params)

    monkeypatch.setattr(FakeBackend, "sample", dies_on_the_third_call)
    with pytest.raises(KeyboardInterrupt):
        generate(_config(out, votes=4, **options))
    partly = len(_votes(out))
    assert 20 < partly < 40
    monkeypatch.setattr(FakeBackend, "sample", original)
    resumed = generate(_config(out, votes=4, **options))
    fresh = generate(_config(tmp_path / "fresh", votes=4, **options))
    assert _votes(out) == _votes(tmp_path / "fresh")
    assert resumed.data_path.read_text() == fresh.data_path.read_text()
    assert resumed.stats.vote == fresh.stats.vote
