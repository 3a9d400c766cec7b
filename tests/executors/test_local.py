"""LocalExecutor: the reference every other executor must match (order, laziness, one backend)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count, islice

import numpy as np

from crescent.backends.base import Backend
from crescent.backends.fake import FakeBackend
from crescent.config import BackendConfig
from crescent.executors import create_executor
from crescent.executors.local import LocalExecutor
from crescent.pipeline.tasks import run_embed


def _square(_backend: Backend, x: int) -> int:
    return x * x


class _ClosingFake(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_imap_yields_in_input_order_with_items() -> None:
    executor = LocalExecutor(BackendConfig(backend="fake"))
    items = [5, 3, 9, 0, 7]
    assert list(executor.imap(_square, items)) == [(x, x * x) for x in items]


def test_imap_is_lazy_on_an_infinite_input() -> None:
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for i in count():
            pulled.append(i)
            yield i

    executor = LocalExecutor(BackendConfig(backend="fake"))
    results = executor.imap(_square, source())
    assert pulled == []  # nothing runs before the first result is asked for
    assert list(islice(results, 3)) == [(0, 0), (1, 1), (2, 4)]
    assert pulled == [0, 1, 2]  # and nothing is pulled beyond what was consumed


def test_every_call_gets_the_executor_backend_and_close_closes_it() -> None:
    backend = _ClosingFake()
    executor = LocalExecutor(BackendConfig(backend="fake"), backend=backend)
    seen = [b for _, b in executor.imap(lambda b, _x: b, range(3))]
    assert all(b is backend for b in seen)
    assert executor.local_backend is backend
    executor.close()
    assert backend.closed


def test_create_executor_local_runs_real_tasks() -> None:
    executor = create_executor("local", BackendConfig(backend="fake"))
    chunks = [["Ava has 3 apples."], ["Ben has 5 coins.", "Cleo has 7 books."]]
    out = list(executor.imap(run_embed, chunks))
    assert [item for item, _ in out] == chunks
    assert [v.shape for _, v in out] == [(1, 32), (2, 32)]
    np.testing.assert_array_equal(out[0][1], FakeBackend().embed(chunks[0]))
    assert isinstance(executor.local_backend, FakeBackend)
    executor.close()
