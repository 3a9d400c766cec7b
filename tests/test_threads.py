"""The default thread count follows what is busy now (crescent.threads), not the lagging load average."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from crescent import threads


class FakeClock:
    """psutil's counters, advanced by hand: per-core busy/idle seconds and this process's CPU seconds."""

    def __init__(self, cores: int) -> None:
        self.busy = [0.0] * cores
        self.niced = [0.0] * cores  # busy time of processes with nice > 0
        self.idle = [0.0] * cores
        self.mine = 0.0
        self.my_nice = 0

    def advance(self, seconds: float, *, others: float, mine: float, niced: float = 0.0) -> None:
        """Over ``seconds``, other processes keep ``others`` cores busy (``niced`` more at nice > 0) and
        this one ``mine``."""
        for core in range(len(self.busy)):
            share = min(1.0, max(0.0, others + mine - core))  # fill cores in order
            nice = min(1.0 - share, max(0.0, others + mine + niced - core - share))
            self.busy[core] += share * seconds
            self.niced[core] += nice * seconds
            self.idle[core] += (1.0 - share - nice) * seconds
        self.mine += mine * seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    def install(cores: int) -> FakeClock:
        fake = FakeClock(cores)

        class Times(SimpleNamespace):
            def __iter__(self):  # psutil's named tuples sum over their fields
                return iter((self.user, self.nice, self.system, self.idle, self.iowait))

        monkeypatch.setattr(
            threads.psutil,
            "cpu_times",
            lambda percpu=False: [
                Times(user=b, nice=n, system=0.0, idle=i, iowait=0.0)
                for b, n, i in zip(fake.busy, fake.niced, fake.idle, strict=True)
            ],
        )
        monkeypatch.setattr(
            threads.psutil,
            "Process",
            lambda: SimpleNamespace(
                cpu_times=lambda: SimpleNamespace(user=fake.mine, system=0.0), nice=lambda: fake.my_nice
            ),
        )
        monkeypatch.setattr(threads, "_affinity", lambda: list(range(cores)))
        return fake

    return install


def _sleep_with(monkeypatch: pytest.MonkeyPatch, fake: FakeClock, *, others: float, mine: float) -> None:
    monkeypatch.setattr(threads.time, "sleep", lambda s: fake.advance(s, others=others, mine=mine))


@pytest.mark.parametrize(
    ("others", "mine", "expected"),
    [
        (0.0, 0.0, 2),  # idle machine: every core, even right after another run (the load average lags)
        (1.0, 0.0, 1),  # another job holds one core
        (2.0, 0.0, 1),  # every core taken: still one
        (0.3, 0.0, 2),  # a blip is not a busy core
        (0.0, 2.0, 2),  # this process's own threads are not "someone else"
        (1.0, 1.0, 1),
    ],
)
def test_default_threads_counts_other_processes_now(clock, monkeypatch, others, mine, expected) -> None:
    fake = clock(2)
    _sleep_with(monkeypatch, fake, others=others, mine=mine)
    assert threads.default_threads() == expected


def test_a_niced_job_yields_its_cores_to_a_normal_priority_run(clock, monkeypatch) -> None:
    """A background job at nice 19 holding a core does not halve a run at nice 0; a niced run still
    counts it, since it cannot tell which niced job it outranks."""
    fake = clock(2)
    monkeypatch.setattr(threads.time, "sleep", lambda s: fake.advance(s, others=0.0, mine=0.0, niced=1.0))
    assert threads.default_threads() == 2
    fake.my_nice = 10
    assert threads.default_threads() == 1


def test_default_threads_ignores_the_load_average(clock, monkeypatch) -> None:
    """The old failure: load 0.51 just after a run ended picked 1 thread of 2 on an idle machine."""
    fake = clock(2)
    _sleep_with(monkeypatch, fake, others=0.0, mine=0.0)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.51, 0.4, 0.3), raising=False)
    assert threads.default_threads() == 2


def test_watch_looks_again_only_after_its_interval(clock, monkeypatch) -> None:
    fake = clock(4)
    now = [100.0]
    monkeypatch.setattr(threads.time, "monotonic", lambda: now[0])
    watch = threads.FreeCoreWatch(every_s=10.0)
    fake.advance(5.0, others=2.0, mine=2.0)  # another job took two cores
    now[0] += 5.0
    assert watch.poll() is None  # too soon to say
    fake.advance(5.0, others=2.0, mine=2.0)
    now[0] += 5.0
    assert watch.poll() == 2
    fake.advance(10.0, others=0.0, mine=2.0)  # and ended
    now[0] += 10.0
    assert watch.poll() == 4
