"""Step 3, majority voting: sampled step-by-step solutions per question, then a label (``labels.py``).

Votes are drawn in waves. With fixed voting one wave draws all K. With adaptive voting the first wave
draws the fewest votes that could settle a question, and each later wave one more vote for the questions
still open, until ``labels.settled`` says no further vote can change the outcome. Vote ``j`` of a
question is always seeded the same way (``SampleRequest.first_index``), so an adaptive run's votes are a
prefix of a fixed run's, and a run killed between waves resumes exactly where it stopped.

The same step labels generated questions (``generate``) and gold-answered ones (``audit``): both stores
hold the ``votes`` and ``outcomes`` tables below.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crescent.answers import extract_answer
from crescent.backends.base import Completion, SampleRequest, SamplingParams, derive_seed
from crescent.executors import Executor
from crescent.pipeline.counting import count_outcome, count_vote, recount_outcomes
from crescent.pipeline.labels import LabelPolicy, VoteOutcome, decide, first_wave, settled
from crescent.pipeline.sampling import sample_and_record
from crescent.pipeline.self_check import SCHEMA as SELF_CHECK_SCHEMA
from crescent.pipeline.self_check import run_self_checks, stored_verdicts
from crescent.prompts import solve_messages
from crescent.session import Session
from crescent.store import RunStore

if TYPE_CHECKING:
    from crescent.config import VotingConfig

MAX_VOTE_CHARS = 20_000

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS votes (
  question_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, answer TEXT,
  tokens INTEGER NOT NULL, finish_reason TEXT, PRIMARY KEY (question_id, idx));
CREATE TABLE IF NOT EXISTS outcomes (
  question_id TEXT PRIMARY KEY, kept INTEGER NOT NULL, reason TEXT, answer TEXT, solution TEXT,
  consensus REAL NOT NULL, counts TEXT NOT NULL);
"""
    + SELF_CHECK_SCHEMA
)


@dataclass(frozen=True)
class VotePlan:
    """Everything that decides which votes are drawn and how they become labels."""

    votes: int
    adaptive: bool
    params: SamplingParams
    instruction: str
    seed: int
    batch_size: int
    policy: LabelPolicy

    @classmethod
    def from_config(cls, config: VotingConfig) -> VotePlan:
        return cls(
            votes=config.votes,
            adaptive=config.adaptive_votes,
            params=SamplingParams(config.vote_temperature, config.vote_top_p, config.vote_max_tokens),
            instruction=config.solve_instruction,
            seed=config.seed,
            batch_size=config.batch_size,
            policy=LabelPolicy.from_config(config),
        )


def vote_request(
    question_id: str, question: str, instruction: str, votes: int, seed: int, first_index: int = 0
) -> SampleRequest:
    """The votes of one question share one prompt, so the backend can evaluate it once and fork it."""
    return SampleRequest(
        messages=solve_messages(question, instruction),
        n=votes,
        seed=derive_seed("vote", seed, question_id),
        first_index=first_index,
    )


def run_votes(
    plan: VotePlan,
    store: RunStore,
    executor: Executor,
    questions: Sequence[tuple[str, str]],
    progress: Any,
    session: Session,
    label: str = "voting",
) -> None:
    """Vote on every ``(id, question)`` that has no outcome yet, writing each wave as it lands."""
    if plan.policy.self_check:  # every verdict before any label, so no label is decided without one
        run_self_checks(
            store,
            executor,
            questions,
            seed=plan.seed,
            batch_size=plan.batch_size,
            session=session,
            progress=progress,
        )
    relabel(store, plan.policy, dict(questions))
    decided = {qid for (qid,) in store.db.execute("SELECT question_id FROM outcomes")}
    todo = [(qid, q) for qid, q in questions if qid not in decided]
    bar = progress.add_task(label, total=len(questions), completed=len(questions) - len(todo), info="")
    # An interrupted run's votes of still-open questions are drawn already.
    waves = _Waves(
        plan,
        store,
        dict(todo),
        stored_votes_by_question(store),
        stored_verdicts(store),
        lambda: progress.advance(bar, 1),
    )
    while todo:
        keyed = [(qid, waves.request(qid)) for qid, _ in todo]
        for _ in sample_and_record(
            executor, store, session, keyed, plan.params, plan.batch_size, waves.record
        ):
            progress.update(bar, info=f"{waves.kept} kept this session")
        todo, waves.still_open = waves.still_open, []


@dataclass
class _Waves:
    """The votes drawn so far per question; each wave's results decide a question or leave it open."""

    plan: VotePlan
    store: RunStore
    text: dict[str, str]
    drawn: dict[str, list[Completion]]
    verdicts: dict[str, bool | None]
    on_decided: Callable[[], None]
    still_open: list[tuple[str, str]] = field(default_factory=list)
    kept: int = 0

    def request(self, qid: str) -> SampleRequest:
        already = len(self.drawn.get(qid, []))
        plan = self.plan
        wave = max(first_wave(plan.votes) - already, 1) if plan.adaptive else plan.votes - already
        return vote_request(qid, self.text[qid], plan.instruction, wave, plan.seed, first_index=already)

    def record(self, qid: str, completions: list[Completion]) -> int:
        votes = self.drawn.setdefault(qid, [])
        for completion in completions:
            _insert_vote(self.store, qid, len(votes), completion)
            votes.append(completion)
        plan = self.plan
        if len(votes) >= plan.votes or (plan.adaptive and settled(votes, plan.votes, plan.policy)):
            outcome = decide(votes, plan.policy, self.text[qid], self.verdicts.get(qid))
            insert_outcome(self.store, qid, outcome)
            count_outcome(self.store, outcome, len(votes))
            self.kept += outcome.kept
            self.on_decided()
        else:
            self.still_open.append((qid, self.text[qid]))
        return sum(c.tokens for c in completions)


def _insert_vote(store: RunStore, qid: str, idx: int, completion: Completion) -> None:
    answer = extract_answer(completion.text)
    count_vote(
        store,
        tokens=completion.tokens,
        unfinished=completion.finish_reason == "length",
        extracted=answer is not None,
    )
    store.db.execute(
        "INSERT INTO votes (question_id, idx, text, answer, tokens, finish_reason) VALUES (?, ?, ?, ?, ?, ?)",
        (
            qid,
            idx,
            completion.text[:MAX_VOTE_CHARS],
            answer,
            completion.tokens,
            completion.finish_reason,
        ),
    )


def insert_outcome(store: RunStore, qid: str, outcome: VoteOutcome) -> None:
    store.db.execute(
        "INSERT OR REPLACE INTO outcomes (question_id, kept, reason, answer, solution, consensus, counts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            qid,
            int(outcome.kept),
            outcome.reason,
            outcome.answer,
            outcome.solution,
            outcome.consensus,
            json.dumps(outcome.counts, ensure_ascii=False),
        ),
    )


def stored_votes_by_question(store: RunStore) -> dict[str, list[Completion]]:
    """Every stored vote, in draw order, per question."""
    drawn: dict[str, list[Completion]] = {}
    for qid, text, tokens, finish in store.db.execute(
        "SELECT question_id, text, tokens, finish_reason FROM votes ORDER BY question_id, idx"
    ):
        drawn.setdefault(qid, []).append(Completion(text, tokens, finish or "stop"))
    return drawn


def relabel(store: RunStore, policy: LabelPolicy, questions: dict[str, str]) -> None:
    """Re-decide every outcome from the stored votes under ``policy`` (no sampling), if it changed.

    Filters are a pure function of the votes, so a rerun with other filter options costs no model time.
    """
    wanted = json.loads(json.dumps(policy.__dict__))
    if store.get_meta("label_policy") == wanted:
        return
    drawn = stored_votes_by_question(store)
    verdicts = stored_verdicts(store)
    decided = [qid for (qid,) in store.db.execute("SELECT question_id FROM outcomes")]
    with store.transaction():
        for qid in decided:
            if qid in drawn and qid in questions:
                outcome = decide(drawn[qid], policy, questions[qid], verdicts.get(qid))
                insert_outcome(store, qid, outcome)
        recount_outcomes(store)
        store.set_meta("label_policy", wanted)
