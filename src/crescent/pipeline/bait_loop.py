"""Steps 1 and 2, bait + self-dedup: sample bait batches and decide their candidates in attempt order.

Deciding needs the embedding mean of the first ``MEAN_SAMPLE`` cleaned questions. Until it exists, each
batch is saved raw (candidates and their raw vectors, ``raw_bait``) as it arrives, so a kill loses at
most the call in flight; a rerun reloads them and goes on from the next batch, and the mean, computed
from the very same vectors, decides them exactly as an uninterrupted run would have.

``BaitLoop`` holds the state between sampled batches (counters, the dedup index, batches waiting for the
mean), as ``vote._Waves`` does for voting: the driver hands it each batch as it lands (``add``), so a
scheduler could interleave it with other steps' calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crescent.backends.base import SamplingParams
from crescent.config import GenerateConfig
from crescent.executors import Executor
from crescent.pipeline.bait import Candidate, question_id
from crescent.pipeline.bait_tables import CandidateTable, ExcludedTable, QuestionTable, RawBaitTable
from crescent.pipeline.counting import count_candidate
from crescent.pipeline.dedup import Deduplicator
from crescent.pipeline.sampling import commit
from crescent.pipeline.sources import read_questions
from crescent.pipeline.tasks import BaitBatch, BaitResult, run_bait_batch, run_embed, samples_per_call
from crescent.run_folder import file_sha256
from crescent.session import Session
from crescent.similarity import center_and_normalize
from crescent.store import RunStore

MEAN_SAMPLE = 32  # cleaned candidates whose mean embedding centers the space (see dedup.py)
MEAN_META = "embedding_mean"
TARGET_REACHED, BUDGET_EXHAUSTED = "target_reached", "budget_exhausted"


def bait_and_dedup(
    config: GenerateConfig, store: RunStore, executor: Executor, progress, session: Session
) -> str:
    """Sample and decide bait until ``--questions`` are accepted or the attempt budget is spent; returns
    why it stopped."""
    loop = BaitLoop(config, store, executor, session)
    bar = progress.add_task(
        "bait + dedup", total=config.questions, completed=min(loop.accepted, config.questions), info=""
    )

    def show() -> None:
        progress.update(
            bar,
            completed=min(loop.accepted, config.questions),
            info=f"{loop.attempts + loop.pending_attempts} samples",
        )

    if stopped := loop.stopped():
        return stopped
    loop.restore()
    tasks = loop.tasks()
    if loop.pending and loop.ready():  # the budget shrank since those batches were saved
        stopped = loop.decide()
        show()
        if stopped:
            return stopped
    for task, result in executor.imap(run_bait_batch, tasks):
        stopped = loop.add(task.batch, result)
        show()
        if stopped:
            return stopped
    return BUDGET_EXHAUSTED


@dataclass
class BaitLoop:
    """What bait + dedup has decided and what waits to be, between two sampled batches."""

    config: GenerateConfig
    store: RunStore
    executor: Executor
    session: Session
    accepted: int = field(init=False)
    attempts: int = field(init=False)
    dedup: Deduplicator | None = field(init=False, default=None)
    """None until the embedding mean exists (read back by ``restore``, or computed by ``decide``)."""
    next_batch: int = field(init=False, default=0)
    recorded: set[int] = field(init=False, default_factory=set)
    """Attempts of batch ``next_batch`` an earlier run decided (see ``_resume_point``)."""
    pending: list[tuple[int, BaitResult]] = field(init=False, default_factory=list)
    """Sampled batches not yet decided (the mean does not exist yet), in batch order."""

    def __post_init__(self) -> None:
        """The committed counters: enough to know whether the run is done (``stopped``) at no cost."""
        self.accepted = QuestionTable(self.store.db).count()
        self.attempts = CandidateTable(self.store.db).count()

    @property
    def pending_attempts(self) -> int:
        """Candidates sampled and waiting to be decided."""
        return sum(len(result.candidates) for _, result in self.pending)

    def stopped(self) -> str | None:
        """Why no further candidate may be decided, or None."""
        if self.accepted >= self.config.questions:
            return TARGET_REACHED
        if self.attempts >= self.config.attempt_budget:
            return BUDGET_EXHAUSTED
        return None

    def restore(self) -> None:
        """Take up an earlier run's state: its dedup index (this embeds the ``--exclude`` files once per
        run folder), the batch to sample next and the batches it saved raw."""
        mean = self.store.get_meta(MEAN_META)
        if mean is not None:
            self.dedup = _make_deduplicator(self.config, self.store, self.executor, np.asarray(mean))
        self.next_batch, self.recorded = _resume_point(self.store, samples_per_call(self.config.batch_size))
        if self.dedup is None:  # sampled by a run that was stopped
            self.pending = RawBaitTable(self.store.db).load()
        if self.pending:
            self.next_batch, self.recorded = self.pending[-1][0] + 1, set()

    def tasks(self) -> Iterator[BaitBatch]:
        """Enough batches to spend the remaining budget, and no more: a parallel executor samples ahead,
        and a batch beyond the budget would be thrown away."""
        config = self.config
        size = samples_per_call(config.batch_size)
        params = SamplingParams(config.bait_temperature, config.bait_top_p, config.bait_max_tokens)
        batches = -(
            -(config.attempt_budget - self.attempts - self.pending_attempts + len(self.recorded)) // size
        )
        return (
            BaitBatch(b, b * size, config.bait_prompt, config.seed, size, params)
            for b in range(self.next_batch, self.next_batch + batches)
        )

    def ready(self) -> bool:
        """Can the pending batches be decided: the mean exists or can be computed, or no more will come."""
        cleaned = sum(len(r.vectors) for _, r in self.pending)
        return (
            self.dedup is not None
            or cleaned >= MEAN_SAMPLE
            or self.attempts + self.pending_attempts >= self.config.attempt_budget
        )

    def add(self, batch: int, result: BaitResult) -> str | None:
        """Take one sampled batch: decide everything pending if possible, else save it raw."""
        self.pending.append((batch, result))
        if self.ready():
            return self.decide()
        commit(self.store, self.session, lambda: self._save_raw(batch, result))
        return None

    def _save_raw(self, batch: int, result: BaitResult) -> int:
        RawBaitTable(self.store.db).save(batch, result)
        return 0  # its tokens count once the batch is decided

    def decide(self) -> str | None:
        """Decide the pending candidates in attempt order and commit them; returns why it stopped, if so."""
        if self.dedup is None:
            vectors = [r.vectors for _, r in self.pending if len(r.vectors)]
            if vectors:
                mean = np.concatenate(vectors)[:MEAN_SAMPLE].mean(axis=0)
                self.dedup = _make_deduplicator(self.config, self.store, self.executor, mean)
        commit(self.store, self.session, self._decide_pending)
        self.pending.clear()
        return self.stopped()

    def _decide_pending(self) -> int:
        """Record the pending candidates' decisions (inside the open transaction); returns their tokens."""
        if self.dedup is not None and self.store.get_meta(MEAN_META) is None:
            self.store.set_meta(MEAN_META, [float(x) for x in self.dedup.mean])
        tokens = 0
        for batch, result in self.pending:
            tokens += self._decide_batch(batch, result)
            if self.stopped():
                break
        RawBaitTable(self.store.db).clear()  # decided now, or undecidable past the target
        return tokens

    def _decide_batch(self, batch: int, result: BaitResult) -> int:
        """Decide one batch's candidates, skipping ``recorded`` ones (decided by an earlier run), until the
        run stops; returns the tokens of those decided."""
        dedup = self.dedup
        normalized = (
            center_and_normalize(result.vectors, dedup.mean)
            if dedup is not None and len(result.vectors)
            else None
        )
        tokens = 0
        row = 0  # the candidate's row in ``vectors``: only cleaned candidates have one
        for cand in result.candidates:
            if cand.attempt in self.recorded:
                row += cand.question is not None
                continue
            if self.stopped():
                break
            vector = normalized[row] if cand.question is not None and normalized is not None else None
            row += vector is not None
            self._decide(batch, cand, vector)
            tokens += cand.tokens
        return tokens

    def _decide(self, batch: int, cand: Candidate, vector: np.ndarray | None) -> None:
        status, reason, similarity = "rejected", cand.reason, None
        if vector is not None:
            decision = self.dedup.decide(cand.question, vector)
            reason, similarity = decision.reason, decision.similarity
            if decision.accepted:
                status = "accepted"
                QuestionTable(self.store.db).insert(
                    question_id(cand.question), cand.attempt, cand.question, vector.tobytes()
                )
                self.accepted += 1
        count_candidate(
            self.store,
            cleaned=cand.question is not None,
            accepted=status == "accepted",
            reason=reason,
            tokens=cand.tokens,
        )
        CandidateTable(self.store.db).insert(
            attempt=cand.attempt,
            batch=batch,
            raw=cand.raw,
            question=cand.question,
            status=status,
            reason=reason,
            similarity=similarity,
            tokens=cand.tokens,
        )
        self.attempts += 1


def _resume_point(store: RunStore, size: int) -> tuple[int, set[int]]:
    """The batch to sample next, and the attempts of it already decided.

    A run stops mid-batch when it reaches its target; the rest of that batch is
    undecided, so an extended rerun samples the batch again (same seed, same
    samples) and decides only the attempts not yet recorded. That keeps an
    extended run identical to one that asked for more from the start.
    """
    candidates = CandidateTable(store.db)
    last = candidates.last_batch()
    if last is None:
        return 0, set()
    recorded = candidates.attempts_in(last)
    return (last, recorded) if len(recorded) < size else (last + 1, set())


def _make_deduplicator(
    config: GenerateConfig, store: RunStore, executor: Executor, mean: np.ndarray
) -> Deduplicator:
    dedup = Deduplicator(mean, config.dedup_threshold)
    questions, vectors = QuestionTable(store.db).embedded()
    if vectors is not None:
        dedup.restore(questions, vectors)
    for path in config.exclude:
        excluded = read_questions(path)
        dedup.exclude(excluded, _excluded_vectors(store, executor, path, excluded))
    return dedup


def _excluded_vectors(store: RunStore, executor: Executor, path: Path, questions: list[str]) -> np.ndarray:
    """Embeddings of an --exclude file, computed once per run directory (keyed by the file's contents).

    A benchmark of a few thousand questions costs minutes of CPU to embed; a resumed run re-uses them.
    """
    sha = file_sha256(path)
    stored = ExcludedTable(store.db).get(sha, len(questions))
    if stored is not None:
        return stored
    chunks = [questions[i : i + 64] for i in range(0, len(questions), 64)]
    vectors = np.concatenate([v for _, v in executor.imap(run_embed, chunks)]).astype(np.float32)
    with store.transaction():
        ExcludedTable(store.db).put(sha, vectors)
    return vectors
