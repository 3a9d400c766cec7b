"""Where ``generate``'s wall time goes, phase by phase, measured from outside the pipeline.

The pipeline records only totals (``stats.json``: wall time, tokens; the backend's ``usage``: time inside
``llama_decode``, time embedding, decode steps and busy slots). This module wraps the executor and the
backend of one benchmark run, without changing the pipeline, and splits those same counters by phase:

- **bait**: from the start of the run to the first vote call (bait sampling, embedding the candidates,
  dedup decisions and their commits);
- **vote**: from the first vote call to the end of the run.

Per phase it reports the wall time, the engine's share of it (``decode_s`` inside ``llama_decode``,
``embed_s`` inside the embedder: both hold the engine lock, so they never overlap each other), the time
no llama.cpp work ran at all (``engine_idle_s``), the driver's work between results (``driver_s``:
decisions and commits, measured as the time between the executor handing a result over and asking for
the next one), and inside that, the time in ``Deduplicator.decide`` and in store transactions. With two
calls in flight the driver works while the engine decodes the next call, so driver time overlaps engine
time; ``engine_idle_s`` is the figure that says what the slots lost.

It is imported only by the benchmark's child process: ``install`` replaces ``Deduplicator`` in the
generate module and wraps ``RunStore.transaction`` for that process alone.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

USAGE_COUNTERS = (
    "completion_tokens",
    "prefill_tokens",
    "decode_s",
    "decode_steps",
    "generating_slot_steps",
    "embed_s",
    "embed_tokens",
)


def _usage_snapshot(backend) -> dict[str, float]:
    merged = backend.usage.as_dict()
    return {key: float(merged.get(key, 0)) for key in USAGE_COUNTERS}


class PhaseMeter:
    """Wraps a backend: marks the phase boundary at the first vote call and snapshots usage there."""

    def __init__(self, backend, bait_prompt: str) -> None:
        self.backend, self.bait_prompt = backend, bait_prompt
        self.name, self.usage = backend.name, backend.usage
        self.overlapping_calls = getattr(backend, "overlapping_calls", False)
        self.model = getattr(backend, "model", None)
        self.started = time.perf_counter()
        self.start_usage = _usage_snapshot(backend)
        self.vote_started: float | None = None
        self.vote_start_usage: dict[str, float] | None = None
        self.driver = {"bait": 0.0, "vote": 0.0}
        self.decide_s = 0.0
        self.decisions = 0
        self.transactions = {"bait": 0.0, "vote": 0.0}
        self.handed = {"bait": 0, "vote": 0}  # results the executor handed the driver
        self.committed = {"bait": 0, "vote": 0}  # store transactions (each ends in a commit)
        self.vote_requests = 0
        self.vote_prompt_tokens = 0  # prompt length asked for, next to the prefill the engine evaluated
        self._lock = threading.Lock()

    @property
    def phase(self) -> str:
        return "bait" if self.vote_started is None else "vote"

    def sample(self, requests, params):
        is_vote = bool(requests) and requests[0].messages[-1]["content"] != self.bait_prompt
        if is_vote:
            with self._lock:
                if self.vote_started is None:
                    self.vote_started = time.perf_counter()
                    self.vote_start_usage = _usage_snapshot(self.backend)
                self.vote_requests += len(requests)
                if self.model is not None:
                    self.vote_prompt_tokens += sum(len(self.model.chat_tokens(r.messages)) for r in requests)
        return self.backend.sample(requests, params)

    def cancel_all(self) -> None:
        self.backend.cancel_all()

    def embed(self, texts):
        return self.backend.embed(texts)

    def close(self) -> None:
        self.backend.close()

    def report(self, ended: float) -> dict[str, Any]:
        """Per-phase figures; call after the run, before the backend is closed."""
        end_usage = _usage_snapshot(self.backend)
        vote_start = self.vote_started if self.vote_started is not None else ended
        vote_usage = self.vote_start_usage if self.vote_start_usage is not None else end_usage
        slots = self.backend.usage.extra.get("slots", 0)
        phases = {}
        for name, (t0, t1, u0, u1) in {
            "bait": (self.started, vote_start, self.start_usage, vote_usage),
            "vote": (vote_start, ended, vote_usage, end_usage),
        }.items():
            delta = {key: u1[key] - u0[key] for key in USAGE_COUNTERS}
            wall = t1 - t0
            engine = delta["decode_s"] + delta["embed_s"]
            phases[name] = {
                "wall_s": round(wall, 2),
                "completion_tokens": int(delta["completion_tokens"]),
                "prefill_tokens": int(delta["prefill_tokens"]),
                "embed_tokens": int(delta["embed_tokens"]),
                "tok_s": round(delta["completion_tokens"] / wall, 2) if wall > 0 else 0.0,
                "decode_s": round(delta["decode_s"], 2),
                "embed_s": round(delta["embed_s"], 2),
                "engine_idle_s": round(max(wall - engine, 0.0), 2),
                "driver_s": round(self.driver[name], 3),
                "results_handed_over": self.handed[name],
                "transactions_s": round(self.transactions[name], 3),
                "transactions": self.committed[name],
                "decode_steps": int(delta["decode_steps"]),
                # generating sequences per decode step over the slots, in this phase only
                "slot_occupancy": round(delta["generating_slot_steps"] / (delta["decode_steps"] * slots), 4)
                if delta["decode_steps"] and slots
                else None,
            }
        asked = max(self.vote_requests, 1)
        phases["vote"]["prefill_tokens_per_question"] = round(phases["vote"]["prefill_tokens"] / asked, 2)
        phases["vote"]["prompt_tokens_per_question"] = round(self.vote_prompt_tokens / asked, 2)
        phases["bait"]["dedup_decide_s"] = round(self.decide_s, 3)
        phases["bait"]["dedup_decisions"] = self.decisions
        for phase in phases.values():
            wall = phase["wall_s"] or 1.0
            phase["share_of_wall"] = {
                key.removesuffix("_s"): round(phase[key] / wall, 3)
                for key in ("decode_s", "embed_s", "engine_idle_s", "driver_s", "transactions_s")
            }
        return phases


class TimedExecutor:
    """An executor that times the driver's work between results, per phase."""

    def __init__(self, inner, meter: PhaseMeter) -> None:
        self.inner, self.meter = inner, meter

    @property
    def local_backend(self):
        return self.inner.local_backend

    def imap(self, fn, items) -> Iterator:
        with contextlib.closing(self.inner.imap(fn, items)) as results:  # its cleanup runs on a break
            for pair in results:
                handed = time.perf_counter()
                phase = self.meter.phase
                self.meter.handed[phase] += 1
                try:
                    yield pair
                finally:
                    self.meter.driver[phase] += time.perf_counter() - handed

    def close(self) -> None:
        self.inner.close()


def install(meter: PhaseMeter) -> Callable[[], None]:
    """Time dedup decisions and store transactions in this process; returns the function that undoes it.

    The benchmark's child process never undoes it; tests do.
    """
    import crescent.pipeline.bait_loop as bait_loop
    from crescent.store import RunStore

    plain = bait_loop.Deduplicator

    class TimedDeduplicator(plain):
        def decide(self, question, vector):
            started = time.perf_counter()
            try:
                return super().decide(question, vector)
            finally:
                meter.decide_s += time.perf_counter() - started
                meter.decisions += 1

    bait_loop.Deduplicator = TimedDeduplicator
    original = RunStore.transaction

    @contextlib.contextmanager
    def timed_transaction(self):
        started, phase = time.perf_counter(), meter.phase
        try:
            with original(self) as db:
                yield db
        finally:
            meter.transactions[phase] += time.perf_counter() - started
            meter.committed[phase] += 1

    RunStore.transaction = timed_transaction

    def uninstall() -> None:
        bait_loop.Deduplicator = plain
        RunStore.transaction = original

    return uninstall
