"""SIGINT/SIGTERM end a command cleanly within ``GRACE_S``, whatever the backend is doing.

The first signal becomes a ``KeyboardInterrupt`` in the main thread, so the command unwinds: the run
store rolls back the batch in flight and executors release their models. A backend stuck in a C call may
never return to Python, so a watchdog ends the process after ``GRACE_S`` anyway; the store is crash-safe,
so that hard exit loses only the uncommitted batch. A second signal ends the process at once.

The message says what was saved, not what we hope was: a run registers (``reporting``) how to count its
committed work, and the count is read when the message is printed, so "nothing was saved" is said when
the first batch was still in flight.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

GRACE_S = 2.0


NOTHING_SAVED = "nothing was saved"
_describers: list[Callable[[], str]] = []  # the open runs, innermost last
_said: list[str] = []  # what the innermost run held when an interrupt unwound it


@contextmanager
def reporting(describe: Callable[[], str]) -> Iterator[None]:
    """While the block runs, an interrupt message says ``describe()`` (e.g. "saved 12 scored items")."""
    if not _describers:  # an outermost run starts: what an earlier interrupt unwound is history (a notebook
        _said.clear()  # or a test session runs many commands in one process)
    _describers.append(describe)
    try:
        yield
    except KeyboardInterrupt:
        if not _said:  # the innermost run speaks; it unwinds first
            _said.append(describe())
        raise
    finally:
        _describers.remove(describe)


class Interrupts:
    """Installs the handlers for one command; ``received`` says which signal, if any, arrived."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.received: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            os._exit(128 + signum)
        self.received = signum
        watchdog = threading.Timer(GRACE_S, self._force_exit, args=(signum,))
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    def _force_exit(self, signum: int) -> None:
        self.report(f"{self.message()} (cleanup took over {GRACE_S:g} s; stopped hard)")
        sys.stderr.flush()
        os._exit(128 + signum)

    def message(self) -> str:
        name = signal.Signals(self.received or signal.SIGINT).name
        if _said:
            saved = _said[-1]
        elif _describers:  # the watchdog, while the run is still open
            saved = _describers[-1]()
        else:
            return f"interrupted by {name}"
        again = "start again" if saved == NOTHING_SAVED else "resume"
        return f"interrupted by {name}; {saved}: rerun the same command to {again}"

    @contextmanager
    def installed(self) -> Iterator[None]:
        _said.clear()
        if threading.current_thread() is not threading.main_thread():  # signals reach only the main thread
            yield
            return
        previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
