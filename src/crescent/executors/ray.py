"""Run tasks on Ray actors, each holding one backend, with results delivered in input order.

What scales is sampling and embedding: each actor loads its own model (or opens
its own client to an OpenAI-compatible server). What does not is deciding: the
driver still makes every dedup and vote decision in order and is the only writer
of the run store, so this executor's one job is to hand each item's result back
exactly once, in the order the items came in, whatever happens to the actors.

Back-pressure: at most ``max_in_flight`` items are out at once, counting results
that arrived early and wait for an older item, so an infinite input generator is
only pulled as fast as the driver consumes.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import ray
from ray.exceptions import RayActorError, RayTaskError

from crescent.backends.base import Backend
from crescent.config import BackendConfig
from crescent.errors import CrescentError

T = TypeVar("T")
R = TypeVar("R")

MAX_DEATHS_PER_ITEM = 3  # an item that kills this many workers is killing them itself (e.g. out of memory)


class _Worker:
    """The actor body: one backend, built where the actor lives, reused for every task.

    A backend that fails to load is remembered rather than raised from ``__init__``:
    Ray reports a constructor error as a dead actor (which we would restart forever);
    raised from a method it arrives as the original exception, with its useful message.
    """

    def __init__(self, config: BackendConfig) -> None:
        from crescent.backends import create_backend

        self.error: BaseException | None = None
        self.backend: Backend | None = None
        try:
            self.backend = create_backend(config)
        except Exception as exc:
            self.error = exc

    def _ready_backend(self) -> Backend:
        if self.error is not None:
            raise self.error
        assert self.backend is not None
        return self.backend

    def ready(self) -> bool:
        self._ready_backend()
        return True

    def run(self, fn: Callable[[Backend, Any], Any], item: Any) -> Any:
        return fn(self._ready_backend(), item)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


@dataclass
class _Pending:
    index: int
    item: Any
    slot: int
    generation: int


class RayExecutor:
    """``workers`` Ray actors, each with one backend built from ``config``.

    ``address``: ``None`` starts a private local Ray (all cores); ``"auto"`` or
    ``"ray://host:10001"`` joins a running cluster. ``cpus_per_worker`` is the Ray CPU
    reservation of each actor and, unless ``config.threads`` is set, its llama.cpp
    thread count (a fraction suits actors that only call a remote server).
    """

    def __init__(
        self,
        config: BackendConfig,
        *,
        workers: int = 2,
        address: str | None = None,
        cpus_per_worker: float = 1.0,
        max_in_flight: int | None = None,
    ) -> None:
        if workers < 1:
            raise CrescentError(f"--workers must be >= 1, got {workers}")
        if cpus_per_worker <= 0:
            raise CrescentError(f"cpus_per_worker must be > 0, got {cpus_per_worker}")
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.max_in_flight = max_in_flight or 2 * workers
        if config.threads is None and config.backend in ("llamacpp", "transformers"):
            config = config.model_copy(update={"threads": max(1, int(cpus_per_worker))})
        self.config = config
        self.actors: list[Any] = []
        self.generations: list[int] = []  # bumped when a slot's actor is replaced
        self.load: list[int] = []  # items queued on each slot's current actor
        self.replacements = 0  # actors that died and were replaced (for tests and logs)
        self.resubmitted = 0  # items sent again after their actor died
        self.started_ray = _connect(address, needed_cpus=math.ceil(workers * cpus_per_worker))
        try:
            _check_capacity(workers * cpus_per_worker)
            self._actor_class = ray.remote(_Worker).options(
                num_cpus=cpus_per_worker, max_restarts=0, runtime_env=_actor_env(config)
            )
            self.actors = [self._actor_class.remote(config) for _ in range(workers)]
            self.generations = [0] * workers
            self.load = [0] * workers
            _get([actor.ready.remote() for actor in self.actors])  # a model that fails to load fails here
        except BaseException:
            self.close()
            raise

    @property
    def local_backend(self) -> Backend | None:
        """None: every backend, and its usage counters, lives in an actor."""
        return None

    def imap(self, fn: Callable[[Backend, T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        """Yield ``(item, fn(backend, item))`` in input order; pull items only as slots free."""
        source = iter(items)
        fn_ref = ray.put(fn)  # serialized once per map, not once per item
        pending: dict[Any, _Pending] = {}  # ObjectRef -> what it computes
        done: dict[int, tuple[Any, Any]] = {}  # results that arrived before an older item's
        deaths: dict[int, int] = {}
        next_in = next_out = 0
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) + len(done) < self.max_in_flight:
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    self._submit(pending, fn_ref, _Pending(next_in, item, -1, -1))
                    next_in += 1
                if next_out in done:
                    yield done.pop(next_out)
                    next_out += 1
                    continue
                if not pending:
                    return  # exhausted, every result delivered
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ref)
                self._release(job)
                try:
                    done[job.index] = (job.item, _get(ref))
                except RayActorError:
                    deaths[job.index] = deaths.get(job.index, 0) + 1
                    if deaths[job.index] >= MAX_DEATHS_PER_ITEM:
                        raise CrescentError(
                            f"item {job.index} killed {MAX_DEATHS_PER_ITEM} Ray workers in a row"
                            " (out of memory?); give each worker more memory or lower --batch-size"
                        ) from None
                    self._replace(job.slot, job.generation)
                    self.resubmitted += 1
                    self._submit(pending, fn_ref, job)
        finally:
            for ref, job in pending.items():  # the consumer stopped early, or an error is on its way out
                self._release(job)
                with contextlib.suppress(Exception):  # best effort: an abandoned result is never read
                    ray.cancel(ref)

    def _submit(self, pending: dict[Any, _Pending], fn_ref: Any, job: _Pending) -> None:
        """Send to the least-loaded actor, so a slow or restarted actor is not queued behind."""
        slot = min(range(len(self.actors)), key=lambda s: (self.load[s], s))
        job.slot, job.generation = slot, self.generations[slot]
        self.load[slot] += 1
        pending[self.actors[slot].run.remote(fn_ref, job.item)] = job

    def _release(self, job: _Pending) -> None:
        if self.generations[job.slot] == job.generation:
            self.load[job.slot] -= 1

    def _replace(self, slot: int, generation: int) -> None:
        """Start a fresh actor in a dead one's slot (once, however many of its items report it)."""
        if self.generations[slot] != generation:
            return
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self.actors[slot], no_restart=True)
        self.actors[slot] = self._actor_class.remote(self.config)
        self.generations[slot] += 1
        self.load[slot] = 0
        self.replacements += 1

    def close(self) -> None:
        """Release the actors (and their models); stop Ray only if this executor started it."""
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already dead, or Ray already shut down
                ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_ray and ray.is_initialized():
            ray.shutdown()
            self.started_ray = False


def _connect(address: str | None, *, needed_cpus: int) -> bool:
    """Join or start Ray; return whether we started it (and so must shut it down)."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        # "local" starts a private instance even if a `ray start` cluster runs on this machine.
        # Logical CPUs at least as many as the actors ask for: llama.cpp threads time-share cores.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home; starts faster offline
        cpus = max(os.cpu_count() or 1, needed_cpus)
        options.update(address="local", include_dashboard=False, num_cpus=cpus)
    else:
        options["address"] = address
    try:
        ray.init(**options)
    except ConnectionError as exc:
        raise CrescentError(
            f"cannot reach a Ray cluster at --address {address or os.environ.get('RAY_ADDRESS')}: {exc};"
            " start one with `ray start --head` or leave --address out for a local Ray"
        ) from exc
    return True


def _actor_env(config: BackendConfig) -> dict[str, Any] | None:
    """Actors on other nodes do not see this shell: hand them the API key the backend will read."""
    key = os.environ.get(config.api_key_env)
    return {"env_vars": {config.api_key_env: key}} if config.backend == "openai" and key else None


def _check_capacity(needed: float) -> None:
    """Fail now rather than wait forever for actors that the cluster has no CPUs for."""
    total = ray.cluster_resources().get("CPU", 0.0)
    if total < needed:
        raise CrescentError(
            f"--workers needs {needed:g} Ray CPUs but the cluster has {total:g};"
            " lower --workers or add nodes (`ray start --address=HEAD:6379`)"
        )


def _get(refs: Any) -> Any:
    """``ray.get`` that raises the task's own exception (a CrescentError stays one line)."""
    try:
        return ray.get(refs)
    except RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, BaseException) and not isinstance(cause, RayTaskError):
            raise cause from None
        raise
