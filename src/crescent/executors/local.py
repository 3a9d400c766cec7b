"""Run every task in this process, on one backend, one after another."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from crescent.backends import create_backend
from crescent.backends.base import Backend
from crescent.config import BackendConfig

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor:
    def __init__(self, config: BackendConfig, backend: Backend | None = None) -> None:
        self.backend = backend or create_backend(config)

    @property
    def local_backend(self) -> Backend:
        return self.backend

    def imap(self, fn: Callable[[Backend, T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        for item in items:
            yield item, fn(self.backend, item)

    def close(self) -> None:
        self.backend.close()
