"""Executors decide *where* work runs (this process, or Ray actors); steps never know which.

An executor maps a task function over items, each call receiving a backend the
executor owns, and yields ``(item, result)`` in input order, lazily, with a bounded
number in flight, so the driver can stop consuming the moment it has enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from crescent.backends.base import Backend
from crescent.config import BackendConfig
from crescent.errors import CrescentError

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    def imap(self, fn: Callable[[Backend, T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]: ...

    @property
    def local_backend(self) -> Backend | None:
        """The in-process backend, when there is one (for usage counters and embeddings of small sets)."""
        ...

    def close(self) -> None: ...


def create_executor(
    kind: str, config: BackendConfig, *, workers: int = 1, address: str | None = None
) -> Executor:
    if kind == "local":
        from crescent.executors.local import LocalExecutor

        return LocalExecutor(config)
    if kind == "ray":
        try:
            from crescent.executors.ray import RayExecutor
        except ImportError as exc:
            raise CrescentError("--executor ray needs Ray: pip install 'crescent-llm[ray]'") from exc
        return RayExecutor(config, workers=workers, address=address)
    raise CrescentError(f"unknown executor '{kind}'; choose local or ray")
