"""LocalExecutor: the reference every other executor must match (order, laziness, one backend)."""

from __future__ import annotations

import threading
import time
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


class _OverlappingFake(FakeBackend):
    """Declares overlapping calls; each task blocks until released, so the test sees what is in flight."""

    overlapping_calls = True

    def __init__(self) -> None:
        super().__init__()
        self.started: list[int] = []
        self.release = threading.Event()
        self.cancelled = threading.Event()

    def cancel_all(self) -> None:
        self.cancelled.set()
        self.release.set()


def _blocking_square(backend: _OverlappingFake, x: int) -> int:
    backend.started.append(x)
    if x > 0:  # the first task returns at once; the others wait to be released or cancelled
        backend.release.wait(timeout=10)
        if backend.cancelled.is_set():
            raise RuntimeError("cancelled")
    return x * x


def _wait_until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_an_overlapping_backend_gets_the_next_task_while_one_is_running() -> None:
    backend = _OverlappingFake()
    executor = LocalExecutor(BackendConfig(backend="fake"), backend=backend)
    results = executor.imap(_blocking_square, range(10))
    assert next(results) == (0, 0)
    assert _wait_until(lambda: sorted(backend.started) == [0, 1])  # task 1 runs while the driver works
    waiter = threading.Thread(target=lambda: next(results))
    waiter.start()  # asking for result 1 submits task 2 while task 1 is still running
    assert _wait_until(lambda: sorted(backend.started) == [0, 1, 2])
    backend.release.set()
    waiter.join(timeout=5)
    assert [next(results) for _ in range(3)] == [(2, 4), (3, 9), (4, 16)]  # still in input order
    assert max(backend.started) <= 5


def test_stopping_early_cancels_the_call_in_flight() -> None:
    backend = _OverlappingFake()
    executor = LocalExecutor(BackendConfig(backend="fake"), backend=backend)
    for item, _ in executor.imap(_blocking_square, range(10)):
        if item == 0:
            break  # the driver has enough: task 1 is still running and must not be waited for
    assert backend.cancelled.is_set()
    assert max(backend.started) <= 2
