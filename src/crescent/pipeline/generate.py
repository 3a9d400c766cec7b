"""The ``generate`` driver: bait -> self-dedup -> majority vote -> export, resumable.

Sampling goes through an executor (here or on Ray); every decision (accept a
question, keep a vote outcome) is made here, in order, and written to the run
store in the same transaction as the work it concludes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crescent.backends.base import SamplingParams
from crescent.config import GenerateConfig, fields_with, fingerprint, resumable_changes
from crescent.errors import CrescentError
from crescent.executors import Executor
from crescent.pipeline.bait import MAX_RAW_CHARS, Candidate, question_id
from crescent.pipeline.counting import count_candidate, recount
from crescent.pipeline.dedup import Deduplicator
from crescent.pipeline.export import GenerateResult, export_run
from crescent.pipeline.given import QuestionFile, take_questions
from crescent.pipeline.pairs import SCHEMA as PAIRS_SCHEMA
from crescent.pipeline.pairs import draw_probes, kept_questions
from crescent.pipeline.sources import file_sha256, read_questions
from crescent.pipeline.tasks import (
    BaitBatch,
    BaitResult,
    run_bait_batch,
    run_embed,
    samples_per_call,
)
from crescent.pipeline.vote import MIGRATIONS as VOTE_MIGRATIONS
from crescent.pipeline.vote import SCHEMA as VOTE_SCHEMA
from crescent.pipeline.vote import VotePlan, outcomes_know_their_votes, run_votes
from crescent.progress import make_progress
from crescent.session import SCHEMA as SESSION_SCHEMA
from crescent.session import Session, open_run
from crescent.similarity import center_and_normalize
from crescent.store import RunStore

MEAN_SAMPLE = 32  # cleaned candidates whose mean embedding centers the space (see dedup.py)

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS candidates (
  attempt INTEGER PRIMARY KEY, batch INTEGER NOT NULL, raw TEXT NOT NULL, question TEXT,
  status TEXT NOT NULL, reason TEXT, similarity REAL, tokens INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS questions (
  id TEXT PRIMARY KEY, attempt INTEGER NOT NULL UNIQUE, question TEXT NOT NULL, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS excluded (
  sha256 TEXT PRIMARY KEY, rows INTEGER NOT NULL, vectors BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS raw_bait (
  batch INTEGER PRIMARY KEY, candidates TEXT NOT NULL, vectors BLOB NOT NULL);
"""
    + VOTE_SCHEMA
    + PAIRS_SCHEMA
    + SESSION_SCHEMA
)

WORK = {
    "decided bait candidates": "SELECT COUNT(*) FROM candidates",
    "sampled bait batches awaiting dedup": "SELECT COUNT(*) FROM raw_bait",
    "votes": "SELECT COUNT(*) FROM votes",
}


def _count_old_rows(store: RunStore) -> None:
    """Store version 3: steps keep their own counters; a run written before counts its rows once.

    The label counters read ``outcomes.votes_used`` (version 4), so an older store gets that column first.
    """
    outcomes_know_their_votes(store)
    recount(store)


def _vote_counts_leave_the_fingerprint(store: RunStore) -> None:
    """Store version 4: ``--votes`` and ``--adaptive-votes`` no longer bind a run (a rerun tops up);
    probes for preference pairs are new, drawn at the default temperature unless a rerun says otherwise."""
    config = store.get_meta("config")
    if config is not None:
        for name in fields_with(GenerateConfig, "settling"):
            config.pop(name, None)
        config.setdefault(
            "pair_probe_temperature", GenerateConfig.model_fields["pair_probe_temperature"].default
        )
        store.set_meta("config", config)


def generate(config: GenerateConfig, executor: Executor | None = None) -> GenerateResult:
    """Run (or resume) the whole pipeline and export ``data.jsonl`` and ``stats.json``.

    Inputs are read and the backend loaded before the config is bound to ``--out``; a run that fails
    before sampling anything leaves no store behind, so the corrected command starts afresh.
    """
    for path in config.exclude:
        read_questions(path)  # fail on a bad file before any model time is spent
    given = QuestionFile.read(config.questions_from) if config.questions_from is not None else None
    bound = fingerprint(config, resumable_changes(GenerateConfig)) | (given.fingerprint() if given else {})
    with open_run(
        config,
        config.out,
        kind="generate",
        schema=SCHEMA,
        fingerprint=bound,
        work=WORK,
        executor=executor,
        migrations=[(3, _count_old_rows), *VOTE_MIGRATIONS, (4, _vote_counts_leave_the_fingerprint)],
    ) as run:
        with make_progress(config.quiet) as progress:
            if given is not None:  # the seed-dataset baseline: no bait, no dedup
                stop_reason = take_questions(config, run.store, given, run.session)
            else:
                stop_reason = _bait_and_dedup(config, run.store, run.executor, progress, run.session)
            _vote(config, run.store, run.executor, progress, run.session)
            draw_probes(
                config,
                run.store,
                run.executor,
                kept_questions(run.store, config.questions),
                run.session,
                progress,
            )
        backend = run.executor.local_backend
        usage = backend.usage if backend is not None else None
        result = export_run(config, run.store, stop_reason=stop_reason, resumed=run.resumed, usage=usage)
    bait = result.stats.bait
    if bait.accepted == 0:
        reasons = bait.rejected
        if given is not None:
            raise CrescentError(
                f"none of the {bait.attempts} questions read from {given.path} could be "
                f"used (rejections: {reasons}); check --questions-from and --exclude"
            )
        raise CrescentError(
            f"the model produced no usable question in {bait.attempts} attempts "
            f"(rejections: {reasons}); check --model and --bait-prompt"
        )
    return result


def _bait_and_dedup(
    config: GenerateConfig, store: RunStore, executor: Executor, progress, session: Session
) -> str:
    """Sample bait batches and decide them in attempt order.

    Deciding needs the embedding mean of the first ``MEAN_SAMPLE`` cleaned questions. Until it exists,
    each batch is saved raw (candidates and their raw vectors, ``raw_bait``) as it arrives, so a kill
    loses at most the call in flight; a rerun reloads them and goes on from the next batch, and the
    mean, computed from the very same vectors, decides them exactly as an uninterrupted run would have.
    """
    accepted = store.scalar("SELECT COUNT(*) FROM questions")
    attempts = store.scalar("SELECT COUNT(*) FROM candidates")
    budget = config.attempt_budget
    bar = progress.add_task(
        "bait + dedup", total=config.questions, completed=min(accepted, config.questions), info=""
    )
    if accepted >= config.questions:
        return "target_reached"
    if attempts >= budget:
        return "budget_exhausted"
    mean = store.get_meta("embedding_mean")
    dedup = _make_deduplicator(config, store, executor, np.asarray(mean)) if mean is not None else None
    size = samples_per_call(config.batch_size)
    next_batch, recorded = _resume_point(store, size)
    pending = _load_raw_bait(store) if dedup is None else []  # sampled by a run that was stopped
    if pending:
        next_batch, recorded = pending[-1][0] + 1, set()
    pending_attempts = sum(len(r.candidates) for _, r in pending)
    params = SamplingParams(config.bait_temperature, config.bait_top_p, config.bait_max_tokens)
    # Enough batches to spend the remaining budget, and no more: a parallel executor
    # samples ahead, and a batch beyond the budget would be thrown away.
    batches = -(-(budget - attempts - pending_attempts + len(recorded)) // size)
    tasks: Iterator[BaitBatch] = (
        BaitBatch(b, b * size, config.bait_prompt, config.seed, size, params)
        for b in range(next_batch, next_batch + batches)
    )

    def ready() -> bool:
        cleaned = sum(len(r.vectors) for _, r in pending)
        return dedup is not None or cleaned >= MEAN_SAMPLE or attempts + pending_attempts >= budget

    def decide() -> str | None:
        nonlocal dedup, accepted, attempts, pending_attempts
        if dedup is None:
            vectors = [r.vectors for _, r in pending if len(r.vectors)]
            if vectors:
                mean = np.concatenate(vectors)[:MEAN_SAMPLE].mean(axis=0)
                dedup = _make_deduplicator(config, store, executor, mean)
        with store.transaction():
            if dedup is not None and store.get_meta("embedding_mean") is None:
                store.set_meta("embedding_mean", [float(x) for x in dedup.mean])
            accepted, attempts, tokens, done = _decide_pending(
                config, store, dedup, pending, accepted, attempts, recorded
            )
            store.db.execute("DELETE FROM raw_bait")  # decided now, or undecidable past the target
            session.commit(tokens)
        pending.clear()
        pending_attempts = 0
        progress.update(bar, completed=min(accepted, config.questions), info=f"{attempts} samples")
        return done

    if pending and ready():  # the budget shrank since those batches were saved
        done = decide()
        if done:
            return done
    stop_reason = "budget_exhausted"
    for task, result in executor.imap(run_bait_batch, tasks):
        pending.append((task.batch, result))
        pending_attempts += len(result.candidates)
        if not ready():
            _save_raw_bait(store, task.batch, result, session)
            progress.update(bar, info=f"{attempts + pending_attempts} samples")
            continue
        done = decide()
        if done:
            stop_reason = done
            break
    return stop_reason


def _save_raw_bait(store: RunStore, batch: int, result: BaitResult, session: Session) -> None:
    rows = [[c.attempt, c.raw[:MAX_RAW_CHARS], c.question, c.reason, c.tokens] for c in result.candidates]
    buffer = io.BytesIO()
    np.save(buffer, result.vectors, allow_pickle=False)  # dtype and shape kept: the mean must not drift
    with store.transaction():
        store.db.execute(
            "INSERT OR REPLACE INTO raw_bait (batch, candidates, vectors) VALUES (?, ?, ?)",
            (batch, json.dumps(rows, ensure_ascii=False), buffer.getvalue()),
        )
        session.commit(0)


def _load_raw_bait(store: RunStore) -> list[tuple[int, BaitResult]]:
    loaded = []
    for batch, rows, blob in store.db.execute(
        "SELECT batch, candidates, vectors FROM raw_bait ORDER BY batch"
    ):
        candidates = [Candidate(*row) for row in json.loads(rows)]
        loaded.append((batch, BaitResult(candidates, np.load(io.BytesIO(blob), allow_pickle=False))))
    return loaded


def _resume_point(store: RunStore, size: int) -> tuple[int, set[int]]:
    """The batch to sample next, and the attempts of it already decided.

    A run stops mid-batch when it reaches its target; the rest of that batch is
    undecided, so an extended rerun samples the batch again (same seed, same
    samples) and decides only the attempts not yet recorded. That keeps an
    extended run identical to one that asked for more from the start.
    """
    last = store.scalar("SELECT MAX(batch) FROM candidates")
    if last is None:
        return 0, set()
    recorded = {a for (a,) in store.db.execute("SELECT attempt FROM candidates WHERE batch = ?", (last,))}
    return (last, recorded) if len(recorded) < size else (last + 1, set())


def _decide_pending(
    config: GenerateConfig,
    store: RunStore,
    dedup: Deduplicator | None,
    pending: list[tuple[int, BaitResult]],
    accepted: int,
    attempts: int,
    recorded: set[int],
) -> tuple[int, int, int, str | None]:
    """Decide pending candidates in attempt order, skipping ``recorded`` ones (decided by an earlier run)."""
    tokens = 0
    for batch, result in pending:
        normalized = (
            center_and_normalize(result.vectors, dedup.mean)
            if dedup is not None and len(result.vectors)
            else None
        )
        row = 0
        for cand in result.candidates:
            if cand.attempt in recorded:
                row += cand.question is not None
                continue
            if accepted >= config.questions:
                return accepted, attempts, tokens, "target_reached"
            if attempts >= config.attempt_budget:
                return accepted, attempts, tokens, "budget_exhausted"
            status, reason, similarity, vector = "rejected", cand.reason, None, None
            if cand.question is not None and normalized is not None:
                vector = normalized[row]
                row += 1
                decision = dedup.decide(cand.question, vector)
                reason, similarity = decision.reason, decision.similarity
                if decision.accepted:
                    status = "accepted"
                    store.db.execute(
                        "INSERT INTO questions (id, attempt, question, vector) VALUES (?, ?, ?, ?)",
                        (question_id(cand.question), cand.attempt, cand.question, vector.tobytes()),
                    )
                    accepted += 1
            count_candidate(
                store,
                cleaned=cand.question is not None,
                accepted=status == "accepted",
                reason=reason,
                tokens=cand.tokens,
            )
            store.db.execute(
                "INSERT INTO candidates (attempt, batch, raw, question, status, reason, similarity, tokens)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cand.attempt,
                    batch,
                    cand.raw[:MAX_RAW_CHARS],
                    cand.question,
                    status,
                    reason,
                    similarity,
                    cand.tokens,
                ),
            )
            attempts += 1
            tokens += cand.tokens
    if accepted >= config.questions:
        return accepted, attempts, tokens, "target_reached"
    return accepted, attempts, tokens, ("budget_exhausted" if attempts >= config.attempt_budget else None)


def _make_deduplicator(
    config: GenerateConfig, store: RunStore, executor: Executor, mean: np.ndarray
) -> Deduplicator:
    dedup = Deduplicator(mean, config.dedup_threshold)
    rows = store.db.execute("SELECT question, vector FROM questions ORDER BY attempt").fetchall()
    if rows:
        vectors = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
        dedup.restore([q for q, _ in rows], vectors)
    for path in config.exclude:
        questions = read_questions(path)
        dedup.exclude(questions, _excluded_vectors(store, executor, path, questions))
    return dedup


def _excluded_vectors(store: RunStore, executor: Executor, path: Path, questions: list[str]) -> np.ndarray:
    """Embeddings of an --exclude file, computed once per run directory (keyed by the file's contents).

    A benchmark of a few thousand questions costs minutes of CPU to embed; a resumed run re-uses them.
    """
    sha = file_sha256(path)
    row = store.db.execute("SELECT rows, vectors FROM excluded WHERE sha256 = ?", (sha,)).fetchone()
    if row is not None and row[0] == len(questions):
        return np.frombuffer(row[1], dtype=np.float32).reshape(len(questions), -1)
    chunks = [questions[i : i + 64] for i in range(0, len(questions), 64)]
    vectors = np.concatenate([v for _, v in executor.imap(run_embed, chunks)]).astype(np.float32)
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO excluded VALUES (?, ?, ?)", (sha, len(questions), vectors.tobytes())
        )
    return vectors


def _vote(config: GenerateConfig, store: RunStore, executor: Executor, progress, session: Session) -> None:
    questions = store.db.execute(
        "SELECT id, question FROM questions ORDER BY attempt LIMIT ?", (config.questions,)
    ).fetchall()
    run_votes(VotePlan.from_config(config), store, executor, questions, progress, session)
