"""The ``generate`` driver: bait -> self-dedup -> majority vote -> export, resumable.

Sampling goes through an executor (here or on Ray); every decision (accept a
question, keep a vote outcome) is made by its step, in order, and written to the
step's own tables in the same transaction as the work it concludes.
"""

from __future__ import annotations

from crescent.config import GenerateConfig
from crescent.errors import CrescentError
from crescent.executors import Executor
from crescent.migrations import MIGRATIONS
from crescent.pipeline.bait_loop import bait_and_dedup
from crescent.pipeline.bait_tables import CandidateTable, ExcludedTable, QuestionTable, RawBaitTable
from crescent.pipeline.export import GenerateResult, export_run
from crescent.pipeline.given import QuestionFile, take_questions
from crescent.pipeline.pairs import ProbeTable, draw_probes, kept_questions
from crescent.pipeline.self_check import SelfCheckTable
from crescent.pipeline.sources import read_questions
from crescent.pipeline.vote import VotePlan, run_votes
from crescent.pipeline.vote_tables import OutcomeTable, VoteTable
from crescent.progress import make_progress
from crescent.run_folder import fingerprint
from crescent.session import Session, SessionTable, open_run
from crescent.store import RunStore, schema_of

TABLES = (
    CandidateTable,
    QuestionTable,
    ExcludedTable,
    RawBaitTable,
    VoteTable,
    OutcomeTable,
    SelfCheckTable,
    ProbeTable,
    SessionTable,
)
"""A generate store's tables, each created by the step that owns it."""
SCHEMA = schema_of(*TABLES)

WORK = {
    "decided bait candidates": CandidateTable.NAME,
    "sampled bait batches awaiting dedup": RawBaitTable.NAME,
    "votes": VoteTable.NAME,
}


def generate(config: GenerateConfig, executor: Executor | None = None) -> GenerateResult:
    """Run (or resume) the whole pipeline and export ``data.jsonl`` and ``stats.json``.

    Inputs are read and the backend loaded before the config is bound to ``--out``; a run that fails
    before sampling anything leaves no store behind, so the corrected command starts afresh.
    """
    for path in config.exclude:
        read_questions(path)  # fail on a bad file before any model time is spent
    given = QuestionFile.read(config.questions_from) if config.questions_from is not None else None
    bound = fingerprint(config, {"questions_from": given.path} if given else {})
    with open_run(
        config,
        config.out,
        kind="generate",
        schema=SCHEMA,
        fingerprint=bound,
        work=WORK,
        executor=executor,
        migrations=MIGRATIONS,
    ) as run:
        with make_progress(config.quiet) as progress:
            if given is not None:  # the seed-dataset baseline: no bait, no dedup
                stop_reason = take_questions(config, run.store, given, run.session)
            else:
                stop_reason = bait_and_dedup(config, run.store, run.executor, progress, run.session)
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


def _vote(config: GenerateConfig, store: RunStore, executor: Executor, progress, session: Session) -> None:
    questions = QuestionTable(store.db).first(config.questions)
    run_votes(VotePlan.from_config(config), store, executor, questions, progress, session)
