"""Run every task in this process, on one backend.

A backend whose calls may overlap (``overlapping_calls``: the batched llama.cpp
engine) gets the next task while the current one drains, from a second thread,
so its decode slots never run empty between calls; results still come back in
input order and the driver still decides everything. Other backends run one task
after another.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from crescent.backends import create_backend
from crescent.backends.base import Backend
from crescent.config import BackendConfig

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT = 2  # one call decoding, the next one queued behind it


class LocalExecutor:
    def __init__(self, config: BackendConfig, backend: Backend | None = None) -> None:
        self.backend = backend or create_backend(config)
        self.in_flight = IN_FLIGHT if self.backend.overlapping_calls else 1

    @property
    def local_backend(self) -> Backend:
        return self.backend

    def imap(self, fn: Callable[[Backend, T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        if self.in_flight == 1:
            for item in items:
                yield item, fn(self.backend, item)
            return
        pending: deque[tuple[T, Future[R]]] = deque()
        pool = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="crescent-task")
        try:
            for item in items:
                pending.append((item, pool.submit(fn, self.backend, item)))
                if len(pending) >= self.in_flight:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            if pending:  # the driver stopped early (enough questions) or a task failed
                self.backend.cancel_all()
                for _, future in pending:
                    with contextlib.suppress(Exception):
                        future.result()
            pool.shutdown(wait=True)

    def close(self) -> None:
        self.backend.close()
