"""The driver core shared by voting (``generate``, ``audit``) and ``eval``: keyed requests go out in
calls of the right size, and each call's results are recorded in one transaction with the session meter.

So a kill loses at most the calls in flight, a rerun starts from what was committed, and throughput is
metered the same way in every command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial

from crescent.backends.base import Completion, SampleRequest, SamplingParams
from crescent.executors import Executor
from crescent.pipeline.tasks import SampleBatch, Unfit, run_sample_batch, samples_per_call
from crescent.progress import console
from crescent.session import Session
from crescent.store import RunStore

Record = Callable[[str, list[Completion]], int]
"""Writes one key's completions (inside the open transaction) and returns the tokens they cost."""
Skip = Callable[[str, str], None]
"""Records (inside the open transaction) that a key was skipped, and why: its prompt does not fit."""


def warn_skipped(what: str, reason: str) -> None:
    """Name a skipped item on stderr as it happens (its count also lands in the run's summary)."""
    console.print(f"warning: skipped {what}: {reason}", markup=False, highlight=False, soft_wrap=True)


def sample_batches(
    keyed: Sequence[tuple[str, SampleRequest]], params: SamplingParams, batch_size: int
) -> Iterator[SampleBatch]:
    """Consecutive requests per call, about ``samples_per_call(batch_size)`` samples in each."""
    if not keyed:
        return
    per_call = max(1, samples_per_call(batch_size) // max(request.n for _, request in keyed))
    for start in range(0, len(keyed), per_call):
        chunk = keyed[start : start + per_call]
        yield SampleBatch(tuple(k for k, _ in chunk), tuple(r for _, r in chunk), params)


def commit(store: RunStore, session: Session, write: Callable[[], int]) -> None:
    """Run ``write`` (which records work and returns the tokens it cost) and meter it in one transaction:
    the one commit of every step, so work and its session meter land together or not at all."""
    with store.transaction():
        session.commit(write())


def sample_and_record(
    executor: Executor,
    store: RunStore,
    session: Session,
    keyed: Sequence[tuple[str, SampleRequest]],
    params: SamplingParams,
    batch_size: int,
    record: Record,
    skip: Skip,
) -> Iterator[tuple[str, ...]]:
    """Sample every request; yields each call's keys once its results (or skips) are committed."""
    for task, results in executor.imap(run_sample_batch, sample_batches(keyed, params, batch_size)):
        commit(store, session, partial(_record_call, task.keys, results, record, skip))
        yield task.keys


def _record_call(
    keys: Sequence[str], results: Sequence[list[Completion] | Unfit], record: Record, skip: Skip
) -> int:
    tokens = 0
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, Unfit):
            skip(key, result.reason)
        else:
            tokens += record(key, result)
    return tokens
