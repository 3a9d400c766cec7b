"""Step 3, majority voting: sampled step-by-step solutions per question, then a label (``labels.py``).

Votes are drawn in waves. With fixed voting one wave draws all K. With adaptive voting the first wave
draws the fewest votes that could settle a question, and each later wave one more vote for the questions
still open, until ``labels.settled`` says no further vote can change the outcome. When fewer questions are
open than there are decode slots, a wave draws more of their next votes at once (``VotePlan.fill_slots``),
so the slots do not idle through a chain of one-vote waves. Each question is still decided by the same rule
on the same prefix of its votes; the votes' text can differ from a run without the fill, as it can with any
change of batch composition (``backends/llamacpp_batch.py``, "Reproducibility"). Vote ``j`` of a
question is always seeded the same way (from the run's seed, the question id and ``j``:
``SampleRequest.first_index``), so an adaptive run's votes are a prefix of a fixed run's, a run killed
between waves resumes exactly where it stopped, and a finished run rerun with another ``--votes`` (or
``--adaptive-votes``) keeps every vote it drew: ``VotePlan.votes_used`` says which prefix of them a fresh
run under the new plan would have decided on, and only the missing votes are drawn (a top-up).

The same step labels generated questions (``generate``) and gold-answered ones (``audit``): both stores
hold its tables (``vote_tables.py``).
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
from crescent.pipeline.labels import PROMPT_TOO_LONG, LabelPolicy, VoteOutcome, decide, first_wave, settled
from crescent.pipeline.sampling import sample_and_record, warn_skipped
from crescent.pipeline.self_check import SelfCheckTable, run_self_checks
from crescent.pipeline.vote_tables import OutcomeTable, VoteTable
from crescent.prompts import solve_messages
from crescent.session import Session
from crescent.store import RunStore

if TYPE_CHECKING:
    from crescent.config import VotingConfig

PLAN_META = "vote_plan"  # the plan the stored outcomes were decided under


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

    def votes_used(self, drawn: Sequence[Completion]) -> int | None:
        """How many of a question's drawn votes (always a prefix) its label rests on under this plan, or
        None while it needs more.

        A run under this plan decides after its first wave and after each later one, so the stored votes
        of any earlier run (another K, adaptive or not) replay exactly what this run would have decided.
        """
        n = first_wave(self.votes) if self.adaptive else self.votes
        while n <= len(drawn):
            if n >= self.votes or settled(drawn[:n], self.votes, self.policy):
                return n
            n += 1
        return None

    def next_wave(self, drawn: int) -> int:
        """Votes to draw next for a question that has ``drawn`` and is still open."""
        return max(first_wave(self.votes) - drawn, 1) if self.adaptive else self.votes - drawn

    def fill_slots(self, drawn: int, open_questions: int) -> int:
        """Votes to draw now so that a wave of few open questions still fills the decode slots.

        Adaptive voting adds one vote per open question and wave, and each wave waits for its longest
        answer: with fewer open questions than slots, most slots would idle through a chain of short
        waves. Drawing the next votes now instead costs little (decoding 16 sequences costs about what 4
        do): a question is still decided on the prefix ``votes_used`` says, and a vote it did not need stays
        stored (a later ``--votes`` top-up uses it). Measured on README command 1 (Qwen2.5-Coder-0.5B, 15
        questions, K = 5 adaptive, back to back): 302 s without, 249 s with."""
        if not self.adaptive or open_questions <= 0:
            return 0
        return min(self.votes - drawn, -(-self.batch_size // open_questions))

    def key(self) -> dict[str, Any]:
        """What the stored outcomes depend on, besides the votes themselves."""
        return {"votes": self.votes, "adaptive": self.adaptive, "policy": self.policy.options()}


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
    drawn = VoteTable(store.db).by_question()  # an earlier or interrupted run's votes are drawn already
    verdicts = SelfCheckTable(store.db).verdicts()
    settle_stored(store, plan, dict(questions), drawn, verdicts)
    decided = OutcomeTable(store.db).decided()
    todo = [(qid, q) for qid, q in questions if qid not in decided]
    bar = progress.add_task(label, total=len(questions), completed=len(questions) - len(todo), info="")
    waves = _Waves(plan, store, dict(todo), drawn, verdicts, lambda: progress.advance(bar, 1))
    while todo:
        keyed = [(qid, waves.request(qid, open_questions=len(todo))) for qid, _ in todo]
        for _ in sample_and_record(
            executor, store, session, keyed, plan.params, plan.batch_size, waves.record, waves.skip
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

    def request(self, qid: str, open_questions: int) -> SampleRequest:
        already = len(self.drawn.get(qid, []))
        plan = self.plan
        wave = max(plan.next_wave(already), plan.fill_slots(already, open_questions))
        return vote_request(qid, self.text[qid], plan.instruction, wave, plan.seed, first_index=already)

    def skip(self, qid: str, reason: str) -> None:
        """A question whose prompt does not fit the context is decided at once: dropped, with its reason."""
        warn_skipped(f"question {qid}", reason)
        outcome = VoteOutcome(False, PROMPT_TOO_LONG, None, None, 0.0, {}, [])
        used = len(self.drawn.get(qid, []))
        OutcomeTable(self.store.db).insert(qid, outcome, used)
        count_outcome(self.store, outcome, used)
        self.on_decided()

    def record(self, qid: str, completions: list[Completion]) -> int:
        votes = self.drawn.setdefault(qid, [])
        for completion in completions:
            _insert_vote(self.store, qid, len(votes), completion)
            votes.append(completion)
        used = self.plan.votes_used(votes)
        if used is not None:
            outcome = decide(votes[:used], self.plan.policy, self.text[qid], self.verdicts.get(qid))
            OutcomeTable(self.store.db).insert(qid, outcome, used)
            count_outcome(self.store, outcome, used)
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
    VoteTable(store.db).insert(qid, idx, completion, answer)


def settle_stored(
    store: RunStore,
    plan: VotePlan,
    questions: dict[str, str],
    drawn: dict[str, list[Completion]],
    verdicts: dict[str, bool | None],
) -> None:
    """Decide, without sampling, every question whose stored votes already settle it under ``plan``.

    When the plan differs from the one the outcomes were decided under (other label filters, another
    ``--votes``, adaptive on or off), every outcome is decided again from the votes a fresh run under
    this plan would have used; a question whose stored votes fall short is reopened, and the caller
    tops it up. Filters and K change no vote, so relabelling costs no model time and keeps every vote.
    """
    wanted = json.loads(json.dumps(plan.key()))
    changed = store.get_meta(PLAN_META) != wanted
    outcomes = OutcomeTable(store.db)
    decided = set() if changed else outcomes.decided()
    with store.transaction():
        if changed:
            outcomes.clear()
        settled_now = 0
        for qid, text in questions.items():
            used = None if qid in decided else plan.votes_used(drawn.get(qid, []))
            if used is not None:
                outcome = decide(drawn[qid][:used], plan.policy, text, verdicts.get(qid))
                outcomes.insert(qid, outcome, used)
                settled_now += 1
        if changed or settled_now:
            recount_outcomes(store)
        store.set_meta(PLAN_META, wanted)
        store.set_meta("label_policy", wanted["policy"])
