"""The default CPU thread policy: share a busy machine instead of fighting over it.

llama.cpp (when built with OpenMP) and torch park idle worker threads in a busy-wait by default. Two
runs on one machine, or one run beside another job, then spin on every core and each gets a fraction of
its solo speed. Passive waiting costs a few percent alone and saves the run when cores are shared.

The thread count defaults to the cores not busy *now*: CPU time used by other processes, sampled over a
fraction of a second (a niced job's time counts as free for a run at normal priority, since it yields).
The 1-minute load average, used before, lags by minutes: started 30 s after another run ended (load 0.51
on 2 cores), a run took 1 thread and ran at 85 tok/s where 2 threads gave 111.
Both are defaults only: an explicit ``--threads`` or environment setting wins.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import psutil

PASSIVE_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0", "KMP_BLOCKTIME": "0"}
SAMPLE_S = 0.3  # long enough to see a busy core (many scheduler ticks), short beside loading a model
RECHECK_S = 10.0  # how often a long run looks again: a decode step is ~0.1 s, a run hours


def apply_thread_policy() -> None:
    """Set the wait policy before llama.cpp or torch load their OpenMP runtime (it reads it once)."""
    for key, value in PASSIVE_ENV.items():
        os.environ.setdefault(key, value)


def _affinity() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. a container's cpuset)."""
    return len(_affinity()) or (os.cpu_count() or 1)


class _Snapshot(NamedTuple):
    mine: float  # this process's CPU seconds so far
    busy: float  # busy seconds so far, summed over our cores
    idle: float


def _snapshot(cores: list[int]) -> _Snapshot:
    per_core = psutil.cpu_times(percpu=True)
    chosen = [per_core[i] for i in cores if i < len(per_core)] or per_core  # all when the mask is unknown
    me = psutil.Process()
    # A run at normal priority takes the cores that niced jobs (nice > 0) use: they yield to it, so their
    # time counts as free. A niced run counts them as busy, since it cannot tell which of them it outranks.
    yielding = me.nice() <= 0
    idle = sum(
        t.idle + getattr(t, "iowait", 0.0) + (getattr(t, "nice", 0.0) if yielding else 0.0) for t in chosen
    )
    own = me.cpu_times()
    return _Snapshot(own.user + own.system, sum(sum(t) for t in chosen) - idle, idle)


def _others(before: _Snapshot, after: _Snapshot, cores: int) -> float:
    """Cores' worth of CPU that other processes used between two snapshots."""
    busy, idle = after.busy - before.busy, after.idle - before.idle
    if busy + idle <= 0:
        return 0.0
    return max(0.0, (busy - (after.mine - before.mine)) / (busy + idle) * cores)


def _free(cores: int, others: float) -> int:
    return max(1, min(cores, cores - int(others + 0.5)))


def busy_cores(sample_s: float = SAMPLE_S) -> float:
    """Cores' worth of CPU that *other* processes used on our cores over the next ``sample_s`` seconds.

    Busy time of the cores in this process's affinity mask, minus this process's own time (its threads
    may be decoding while it asks).
    """
    cores = _affinity()
    before = _snapshot(cores)
    time.sleep(sample_s)
    return _others(before, _snapshot(cores), usable_cores())


def default_threads(sample_s: float = SAMPLE_S) -> int:
    """Cores free now: all of them on an idle machine, one when every core is taken."""
    return _free(usable_cores(), busy_cores(sample_s))


class FreeCoreWatch:
    """Re-checks the free cores during a long run, between decode steps, at no cost: it compares the CPU
    time used since its previous look instead of sampling (a job that started or ended after this run
    began changes the answer within ``every_s``)."""

    def __init__(self, every_s: float = RECHECK_S) -> None:
        self.every_s = every_s
        self._cores = _affinity()
        self._last = _snapshot(self._cores)
        self._at = time.monotonic()

    def poll(self) -> int | None:
        """The thread count for now, or ``None`` when the last look is too recent to say."""
        if time.monotonic() - self._at < self.every_s:
            return None
        now = _snapshot(self._cores)
        others = _others(self._last, now, usable_cores())
        self._last, self._at = now, time.monotonic()
        return _free(usable_cores(), others)
