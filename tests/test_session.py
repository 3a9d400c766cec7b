"""``open_run``: the lifecycle every resumable driver shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from crescent.backends.fake import FakeBackend
from crescent.config import RunConfig
from crescent.errors import CrescentError
from crescent.executors.local import LocalExecutor
from crescent.run_folder import bind_store
from crescent.session import SCHEMA, describe_saved, open_run
from crescent.store import STORE_NAME, RunStore, count_rows

TABLE = "CREATE TABLE IF NOT EXISTS work (x INTEGER);" + SCHEMA


WORK = {"work rows": "work"}


def _open(out: Path, config: RunConfig, executor=None, fingerprint=None):  # type: ignore[no-untyped-def]
    return open_run(
        config,
        out,
        kind="test",
        schema=TABLE,
        fingerprint=fingerprint or {"a": 1},
        work=WORK,
        executor=executor,
    )


def test_a_backend_that_fails_to_load_binds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(CrescentError), _open(out, RunConfig(backend="fake", model="nonsense=1")):
        pass
    assert not (out / STORE_NAME).exists()


def test_a_failure_before_any_work_leaves_no_store_and_work_survives_a_later_failure(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = RunConfig(backend="fake", model="dim=8")
    with pytest.raises(RuntimeError), _open(out, config):
        raise RuntimeError("boom")
    assert not (out / STORE_NAME).exists()
    with pytest.raises(RuntimeError), _open(out, config, fingerprint={"a": 2}) as run:
        assert not run.resumed
        with run.store.transaction():
            run.store.db.execute("INSERT INTO work VALUES (1)")
        raise RuntimeError("boom after work")
    with _open(out, config, fingerprint={"a": 2}) as run:
        assert run.resumed and count_rows(run.store.db, "work") == 1
    with pytest.raises(CrescentError, match="different config"), _open(out, config, fingerprint={"a": 3}):
        pass


def test_only_an_executor_made_here_is_closed(tmp_path: Path) -> None:
    closed: list[str] = []

    class Tracked(LocalExecutor):
        def close(self) -> None:
            closed.append("given")

    given = Tracked(config=None, backend=FakeBackend())  # type: ignore[arg-type]
    with _open(tmp_path / "run", RunConfig(backend="fake"), executor=given) as run:
        assert run.executor is given
    assert closed == []


def test_a_store_left_without_work_binds_nothing(tmp_path: Path) -> None:
    """What kill -9 (or the watchdog's hard exit) during the first batch leaves: a bound store, no work."""
    out = tmp_path / "run"
    config = RunConfig(backend="fake", model="dim=8")
    out.mkdir()
    store = RunStore(out, TABLE, kind="test")
    bind_store(store, {"a": 1}, holds_work=False)
    store.close()  # no discard: the process died
    with _open(out, config, fingerprint={"a": 2}) as run:
        assert not run.resumed
        with run.store.transaction():
            run.store.db.execute("INSERT INTO work VALUES (1)")
    with pytest.raises(CrescentError, match="different config"), _open(out, config, fingerprint={"a": 1}):
        pass
    assert describe_saved(out / STORE_NAME, WORK) == "saved 1 work rows"
    assert describe_saved(tmp_path / "none" / STORE_NAME, WORK) == "nothing was saved"
