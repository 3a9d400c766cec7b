"""benchmarks/phases.py: generate's time and tokens split at the first vote call, on the fake backend."""

from __future__ import annotations

from pathlib import Path

import phases
import pytest

from crescent.backends.fake import FakeBackend
from crescent.config import GenerateConfig
from crescent.executors.local import LocalExecutor
from crescent.pipeline import bait_loop
from crescent.pipeline.generate import generate
from crescent.store import RunStore


@pytest.fixture
def metered(tmp_path: Path):
    config = GenerateConfig(
        out=tmp_path / "run", backend="fake", questions=6, votes=3, quiet=True, batch_size=4
    )
    backend = FakeBackend()
    meter = phases.PhaseMeter(backend, config.bait_prompt)
    uninstall = phases.install(meter)
    try:
        result = generate(config, executor=phases.TimedExecutor(LocalExecutor(config, backend=meter), meter))
        yield config, backend, meter, result, meter.report(ended=meter.started + 1e6)
    finally:
        uninstall()


def test_tokens_split_between_bait_and_vote_add_up(metered) -> None:
    config, backend, meter, result, report = metered
    bait, vote = report["bait"], report["vote"]
    assert bait["completion_tokens"] + vote["completion_tokens"] == backend.usage.completion_tokens
    assert bait["completion_tokens"] > 0 and vote["completion_tokens"] > 0
    # fixed voting: one request per accepted question, all in the vote phase
    assert meter.vote_requests == result.stats.bait.accepted == config.questions


def test_driver_work_is_counted_per_phase(metered) -> None:
    _, _, meter, result, report = metered
    bait, vote = report["bait"], report["vote"]
    assert bait["dedup_decisions"] >= result.stats.bait.accepted
    assert bait["transactions"] > 0 and vote["transactions"] > 0
    assert bait["results_handed_over"] > 0 and vote["results_handed_over"] > 0
    assert meter.vote_started is not None and meter.vote_started > meter.started


def test_uninstall_restores_the_pipeline(tmp_path: Path) -> None:
    plain_dedup, plain_transaction = bait_loop.Deduplicator, RunStore.transaction
    uninstall = phases.install(phases.PhaseMeter(FakeBackend(), "bait"))
    assert bait_loop.Deduplicator is not plain_dedup
    uninstall()
    assert bait_loop.Deduplicator is plain_dedup and RunStore.transaction is plain_transaction
