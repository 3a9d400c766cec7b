"""RayExecutor: same results as local, in input order, each exactly once, even when an actor dies.

One local Ray (2 CPUs) serves the module; starting it costs most of this file's runtime.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import count, islice
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crescent.backends import create_backend
from crescent.backends.base import Backend
from crescent.config import BackendConfig, GenerateConfig
from crescent.errors import CrescentError
from crescent.executors import create_executor
from crescent.pipeline.generate import generate
from crescent.similarity import center_and_normalize

try:
    import ray
except ImportError:  # the extra is optional; only the install-hint test runs without it
    ray = None


def needs_ray(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test as needing the optional ray extra, and skip it when that is not installed."""
    skip = pytest.mark.skipif(ray is None, reason="needs pip install 'crescent-llm[ray]'")
    return pytest.mark.ray(skip(test))


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    # Ray workers cannot import this test module, so functions defined here travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@pytest.fixture
def executor(ray_cluster: None) -> Iterator[Any]:
    from crescent.executors.ray import RayExecutor

    ray_executor = RayExecutor(BackendConfig(backend="fake"), workers=2)
    yield ray_executor
    ray_executor.close()


def _slow_pid(_backend: Backend, x: int) -> tuple[int, int]:
    """Uneven durations, so completions arrive out of order and must be re-ordered."""
    time.sleep(0.05 * (x % 3))
    return x, os.getpid()


def _fail_on_three(_backend: Backend, x: int) -> int:
    if x == 3:
        raise CrescentError("bad row 3: fix it")
    return x


def test_without_ray_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.delitem(sys.modules, "crescent.executors.ray", raising=False)
    with pytest.raises(CrescentError, match=r"pip install 'crescent-llm\[ray\]'"):
        create_executor("ray", BackendConfig(backend="fake"), workers=2)


@needs_ray
def test_imap_is_ordered_lazy_bounded_and_uses_every_actor(executor: Any) -> None:
    pulled: list[int] = []
    most_ahead = 0

    def source() -> Iterator[int]:
        for i in count():  # infinite: only back-pressure keeps the driver from being flooded
            pulled.append(i)
            yield i

    results = executor.imap(_slow_pid, source())
    assert pulled == []
    out = []
    for item, (x, pid) in islice(results, 12):
        most_ahead = max(most_ahead, len(pulled) - len(out))
        out.append((item, x, pid))
    results.close()
    assert [(item, x) for item, x, _ in out] == [(i, i) for i in range(12)]
    assert most_ahead <= executor.max_in_flight == 4
    assert len({pid for _, _, pid in out}) == 2


@needs_ray
def test_killed_actor_loses_nothing_and_duplicates_nothing(executor: Any) -> None:
    def source() -> Iterator[int]:
        for i in range(16):
            if i == 6:  # items 2..5 are in flight, some on this actor
                ray.kill(executor.actors[0])
            yield i

    out = list(executor.imap(_slow_pid, source()))
    assert [(item, x) for item, (x, _pid) in out] == [(i, i) for i in range(16)]
    assert executor.replacements == 1 and executor.resubmitted >= 1
    pids = {pid for _, pid in (r for _, r in executor.imap(_slow_pid, range(8)))}
    assert len(pids) == 2  # the replacement actor takes work too


@needs_ray
def test_task_error_arrives_as_the_original_one_line_error(executor: Any) -> None:
    with pytest.raises(CrescentError, match="bad row 3: fix it"):
        list(executor.imap(_fail_on_three, range(6)))
    assert [r for _, r in executor.imap(_fail_on_three, [0, 1])] == [0, 1]  # still usable afterwards


@needs_ray
def test_model_that_fails_to_load_fails_at_start_in_one_line(ray_cluster: None, tmp_path: Path) -> None:
    from crescent.executors.ray import RayExecutor

    with pytest.raises(CrescentError, match="model file not found"):
        RayExecutor(BackendConfig(model=str(tmp_path / "missing.gguf")), workers=1)


@needs_ray
def test_more_workers_than_cluster_cpus_fails_at_once(ray_cluster: None) -> None:
    from crescent.executors.ray import RayExecutor

    with pytest.raises(CrescentError, match="needs 3 Ray CPUs but the cluster has 2"):
        RayExecutor(BackendConfig(backend="fake"), workers=3)


@needs_ray
def test_only_openai_actors_are_handed_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from crescent.executors.ray import _actor_env

    monkeypatch.setenv("MY_KEY", "sk-test")
    served = BackendConfig(backend="openai", base_url="http://127.0.0.1:9/v1", api_key_env="MY_KEY")
    assert _actor_env(served) == {"env_vars": {"MY_KEY": "sk-test"}}
    assert _actor_env(BackendConfig(backend="fake", api_key_env="MY_KEY")) is None
    monkeypatch.delenv("MY_KEY")
    assert _actor_env(served) is None


class _KillingExecutor:
    """Wraps a RayExecutor: slows every task and kills an actor while the first imap is mid-way."""

    def __init__(self, inner: Any, kill_at: int) -> None:
        self.inner, self.kill_at, self.killed = inner, kill_at, False
        self.local_backend = None

    def imap(self, fn: Callable[[Backend, Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        def slowed(backend: Backend, item: Any) -> Any:
            time.sleep(0.05)
            return fn(backend, item)

        def source() -> Iterator[Any]:
            for i, item in enumerate(items):
                if i == self.kill_at and not self.killed:
                    ray.kill(self.inner.actors[1])
                    self.killed = True
                yield item

        return self.inner.imap(slowed, source())

    def close(self) -> None:
        self.inner.close()


def _fake_config(out: Path) -> GenerateConfig:
    return GenerateConfig(out=out, backend="fake", questions=8, votes=3, batch_size=4, quiet=True)


def _check_invariants(result: Any, config: GenerateConfig, backend: Backend) -> list[str]:
    """Unique ids, the count asked for (or the whole attempt budget spent short of it), and no accepted pair
    at/above the dedup threshold (recomputed)."""
    rows = [json.loads(line) for line in result.data_path.read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows)
    bait = result.stats.bait
    if result.stats.stop_reason == "target_reached":
        assert bait.accepted == config.questions
    else:
        assert result.stats.stop_reason == "budget_exhausted" and bait.attempts == config.max_attempts
    assert 0 < len(rows) <= bait.accepted <= config.questions
    db = sqlite3.connect(config.out / "run.sqlite")
    questions = [q for (q,) in db.execute("SELECT question FROM questions ORDER BY attempt")]
    (mean_json,) = db.execute("SELECT value FROM meta WHERE key = 'embedding_mean'").fetchone()
    mean = np.asarray(json.loads(mean_json))
    db.close()
    vectors = center_and_normalize(backend.embed(questions), mean)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    assert similarity.max() < config.dedup_threshold
    return questions


@needs_ray
def test_generate_on_ray_writes_the_same_data_as_local(executor: Any, tmp_path: Path) -> None:
    local = generate(_fake_config(tmp_path / "local"))
    config = _fake_config(tmp_path / "ray")
    on_ray = generate(config, executor=executor)
    _check_invariants(on_ray, config, create_backend(config))
    assert on_ray.data_path.read_bytes() == local.data_path.read_bytes()
    assert on_ray.stats.bait == local.stats.bait


@needs_ray
def test_generate_with_an_actor_killed_mid_run_matches_local(executor: Any, tmp_path: Path) -> None:
    local = generate(_fake_config(tmp_path / "local"))
    config = _fake_config(tmp_path / "ray")
    killing = _KillingExecutor(executor, kill_at=3)  # inside the bait stage, with work in flight
    on_ray = generate(config, executor=killing)
    assert killing.killed and executor.replacements == 1 and executor.resubmitted >= 1
    assert on_ray.data_path.read_bytes() == local.data_path.read_bytes()
    assert on_ray.stats.vote.questions == local.stats.vote.questions


@pytest.mark.slow
@needs_ray
def test_generate_with_the_embedded_model_on_two_actors(ray_cluster: None, tmp_path: Path) -> None:
    # Four bait batches at most (two per actor): short on 2 busy cores. How many of them are clean questions
    # depends on the CPU's float kernels (8 attempts gave 3 here, 2 on a CI machine), so reaching 3 is not
    # asserted; every accepted question must be voted on.
    config = GenerateConfig(
        out=tmp_path / "run",
        questions=3,
        votes=2,
        workers=2,
        executor="ray",
        bait_max_tokens=48,
        vote_max_tokens=40,
        batch_size=4,
        max_attempts=16,
        quiet=True,
        # 40-token votes of a 135M model: keep any answer, so the executor's export has rows to check
        min_consensus=0.0,
        drop_unfinished_votes=False,
        min_valid_votes=1,
        arithmetic_check=False,
        shortcut_filter=False,
    )
    result = generate(config)
    _check_invariants(result, config, create_backend(config))
    assert result.stats.vote.questions == result.stats.bait.accepted > 0
