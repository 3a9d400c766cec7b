"""The default CPU thread policy: share a busy machine instead of fighting over it.

llama.cpp (when built with OpenMP) and torch park idle worker threads in a busy-wait by default. Two
runs on one machine, or one run beside another job, then spin on every core and each gets a fraction of
its solo speed. Passive waiting costs a few percent alone and saves the run when cores are shared; the
thread count defaults to the cores not already busy (by the 1-minute load average), at least one.
Both are defaults only: an explicit ``--threads`` or environment setting wins.
"""

from __future__ import annotations

import os

PASSIVE_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0", "KMP_BLOCKTIME": "0"}


def apply_thread_policy() -> None:
    """Set the wait policy before llama.cpp or torch load their OpenMP runtime (it reads it once)."""
    for key, value in PASSIVE_ENV.items():
        os.environ.setdefault(key, value)


def default_threads() -> int:
    """Cores free now: all of them on an idle machine, one when every core is taken."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this platform
        busy = 0.0
    return max(1, min(cores, cores - int(busy + 0.5)))
