"""The sample-record-commit loop that voting, audit and eval share."""

from __future__ import annotations

from pathlib import Path

import pytest

from crescent.backends.base import Completion, SampleRequest, SamplingParams
from crescent.backends.fake import FakeBackend
from crescent.executors.local import LocalExecutor
from crescent.pipeline.sampling import sample_and_record, sample_batches
from crescent.pipeline.tasks import samples_per_call
from crescent.session import SCHEMA, Session, totals
from crescent.store import RunStore

PARAMS = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=32)
TABLE = "CREATE TABLE IF NOT EXISTS got (key TEXT PRIMARY KEY, n INTEGER NOT NULL);"


def _never_skips(key: str, reason: str) -> None:
    raise AssertionError(f"{key} skipped: {reason}")


def _keyed(count: int, n: int) -> list[tuple[str, SampleRequest]]:
    messages = [{"role": "user", "content": "What is 2 + 3? The answer is"}]
    return [(f"k{i}", SampleRequest(messages=messages, n=n, seed=i)) for i in range(count)]


@pytest.mark.parametrize(("count", "n", "batch_size"), [(10, 5, 2), (3, 1, 1), (7, 40, 4), (0, 3, 2)])
def test_batches_keep_order_and_fill_calls_to_the_sample_target(count: int, n: int, batch_size: int) -> None:
    keyed = _keyed(count, n)
    batches = list(sample_batches(keyed, PARAMS, batch_size))
    assert [k for b in batches for k in b.keys] == [k for k, _ in keyed]
    per_call = max(1, samples_per_call(batch_size) // n)
    assert all(len(b.keys) == per_call for b in batches[:-1])
    assert all(b.params == PARAMS and len(b.keys) == len(b.requests) for b in batches)


def test_each_call_commits_its_records_and_the_session_tokens(tmp_path: Path) -> None:
    store = RunStore(tmp_path, TABLE + SCHEMA, kind="test")
    executor = LocalExecutor(config=None, backend=FakeBackend())  # type: ignore[arg-type]
    keyed = _keyed(9, 3)

    def record(key: str, completions: list[Completion]) -> int:
        store.db.execute("INSERT INTO got (key, n) VALUES (?, ?)", (key, len(completions)))
        return sum(c.tokens for c in completions)

    seen = [
        k
        for keys in sample_and_record(executor, store, Session(store), keyed, PARAMS, 1, record, _never_skips)
        for k in keys
    ]
    assert seen == [k for k, _ in keyed]
    assert store.db.execute("SELECT COUNT(*), MIN(n), MAX(n) FROM got").fetchone() == (9, 3, 3)
    _, tokens, sessions = totals(store)
    assert tokens > 0 and sessions == 1


def test_a_failing_record_rolls_back_its_whole_call(tmp_path: Path) -> None:
    store = RunStore(tmp_path, TABLE + SCHEMA, kind="test")
    executor = LocalExecutor(config=None, backend=FakeBackend())  # type: ignore[arg-type]
    keyed = _keyed(8, 1)  # batch size 1: 4 keys per call

    def record(key: str, completions: list[Completion]) -> int:
        if key == "k5":
            raise RuntimeError("disk full")
        store.db.execute("INSERT INTO got (key, n) VALUES (?, ?)", (key, len(completions)))
        return 1

    with pytest.raises(RuntimeError):
        for _ in sample_and_record(executor, store, Session(store), keyed, PARAMS, 1, record, _never_skips):
            pass
    kept = [k for (k,) in store.db.execute("SELECT key FROM got ORDER BY key")]
    assert kept == ["k0", "k1", "k2", "k3"]  # the first call only: k4 went with k5's call
    assert totals(store)[1] == 4


def test_an_item_whose_prompt_does_not_fit_is_skipped_and_the_rest_of_its_call_recorded(
    tmp_path: Path,
) -> None:
    """One oversized prompt used to kill its whole call (and the run); now that item alone is skipped."""
    store = RunStore(tmp_path, TABLE + SCHEMA, kind="test")
    backend = FakeBackend()
    backend.n_ctx = 50  # words
    executor = LocalExecutor(config=None, backend=backend)  # type: ignore[arg-type]
    keyed = _keyed(6, 1)
    long_messages = [{"role": "user", "content": "What is 2 + 3? " + "very " * 100}]
    keyed[2] = ("k2", SampleRequest(messages=long_messages, n=1, seed=2))
    skipped: list[tuple[str, str]] = []

    def record(key: str, completions: list[Completion]) -> int:
        store.db.execute("INSERT INTO got (key, n) VALUES (?, ?)", (key, len(completions)))
        return 1

    def skip(key: str, reason: str) -> None:
        skipped.append((key, reason))

    for _ in sample_and_record(executor, store, Session(store), keyed, PARAMS, 1, record, skip):
        pass
    kept = [k for (k,) in store.db.execute("SELECT key FROM got ORDER BY key")]
    assert kept == ["k0", "k1", "k3", "k4", "k5"]
    assert [key for key, _ in skipped] == ["k2"] and "does not fit the context window" in skipped[0][1]
