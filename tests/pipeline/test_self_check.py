"""The self-check filter: the model's own verdict, stored once, counted, switchable without sampling votes."""

from __future__ import annotations

from pathlib import Path

import pytest

from crescent.config import GenerateConfig
from crescent.pipeline.generate import generate
from crescent.pipeline.self_check import SELF_CHECK_QUESTION, parse_verdict


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Yes.", True),
        ("yes", True),
        ("**No**, it has two answers.", False),
        ("The answer is yes.", True),
        ("The answer to this question is yes.", True),  # SmolLM2-135M's way of saying it
        ("No", False),
        ("Maybe.", None),
        ("Nope", None),
        ("Yesterday it rained.", None),
        ("", None),
        ("It depends on what the problem means by yes", None),  # past the first few words: not a verdict
    ],
)
def test_parse_verdict_reads_yes_or_no_from_the_first_words(text: str, verdict: bool | None) -> None:
    assert parse_verdict(text) is verdict


def _config(out: Path, **overrides) -> GenerateConfig:
    values = dict(out=out, backend="fake", questions=12, votes=3, quiet=True, batch_size=8)
    values.update(overrides)
    return GenerateConfig(**values)


def _prompts(monkeypatch) -> list[str]:
    """Records the prompt of every request the fake backend is asked for."""
    from crescent.backends.fake import FakeBackend

    seen: list[str] = []
    original = FakeBackend.sample

    def sample(self, requests, params):
        seen.extend(r.messages[-1]["content"] for r in requests for _ in range(r.n))
        return original(self, requests, params)

    monkeypatch.setattr(FakeBackend, "sample", sample)
    return seen


def test_self_check_is_off_by_default_and_asks_nothing(tmp_path: Path, monkeypatch) -> None:
    prompts = _prompts(monkeypatch)
    result = generate(_config(tmp_path / "run"))
    assert result.stats.self_check is None and "self_check" not in result.stats.vote.dropped
    assert not any(SELF_CHECK_QUESTION in p for p in prompts)


def test_self_check_drops_what_the_model_says_no_to_and_switches_without_sampling_votes(
    tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "run"
    plain = generate(_config(out))
    votes_drawn = plain.stats.vote.votes_drawn
    prompts = _prompts(monkeypatch)

    checked = generate(_config(out, self_check=True))  # switched on for a finished run
    assert len(prompts) == 12 and all(SELF_CHECK_QUESTION in p for p in prompts)  # verdicts only, no vote
    verdicts = checked.stats.self_check
    assert verdicts["asked"] == 12 and verdicts["yes"] + verdicts["no"] == 12 and verdicts["no"] > 0
    dropped = checked.stats.vote.dropped["self_check"]
    assert 0 < dropped <= verdicts["no"]  # a "no" is reported first, unless the votes gave no answer at all
    assert checked.stats.export.rows < plain.stats.export.rows
    assert checked.stats.vote.votes_drawn == votes_drawn

    prompts.clear()
    again = generate(_config(out, self_check=False))  # and off again: a relabel, nothing sampled
    assert prompts == []
    assert again.stats.export.rows == plain.stats.export.rows


def test_self_check_verdicts_are_asked_before_any_vote_and_counted_like_the_rows(tmp_path: Path) -> None:
    from crescent.pipeline import counting, self_check
    from crescent.pipeline.generate import SCHEMA
    from crescent.store import RunStore

    out = tmp_path / "run"
    generate(_config(out, questions=6, self_check=True))
    result = generate(_config(out, questions=12, self_check=True))  # extended: the new questions are asked
    store = RunStore(out, SCHEMA, kind="generate")
    try:
        running = store.counters(self_check.STEP)
        with store.transaction():
            counting.recount(store)
        assert running == store.counters(self_check.STEP) == result.stats.self_check
        rows = store.db.execute("SELECT question_id, text FROM self_checks").fetchall()
        questions = {qid for (qid,) in store.db.execute("SELECT id FROM questions")}
    finally:
        store.close()
    assert {qid for qid, _ in rows} == questions and running["asked"] == 12
    assert all(text in ("Yes.", "No.") for _, text in rows)
