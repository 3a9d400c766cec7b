"""The votes as preference data: ``pairs.jsonl`` rows (TRL's conversational preference format), and the
optional probe votes that look for a losing solution where every vote agreed.

A kept question's winning solution is ``chosen``; its least-voted losing vote (``labels.least_voted``)
is ``rejected``, weighted by how clearly the votes separated them, as ScPO (arXiv 2411.04109) does.
Where every vote agreed there is no losing vote. ``--pair-probes N`` then draws N more solutions at
``--pair-probe-temperature`` (hotter, to leave the model's mode) and takes a wrong one from those.
Probes never vote: a label is decided by its ``--votes`` alone, so probing changes no row of
``data.jsonl``. They live in their own table, seeded per (seed, question, probe), so changing
``--pair-probes`` tops them up or reads a prefix, as ``--votes`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crescent.answers import answers_equal, extract_answer
from crescent.backends.base import Completion, SampleRequest, SamplingParams, derive_seed
from crescent.executors import Executor
from crescent.pipeline.bait_tables import QuestionTable
from crescent.pipeline.labels import MAX_SOLUTION_CHARS
from crescent.pipeline.sampling import sample_and_record, warn_skipped
from crescent.pipeline.vote_tables import OutcomeTable
from crescent.prompts import solve_messages, solve_prompt
from crescent.session import Session
from crescent.store import RunStore, Table

if TYPE_CHECKING:
    from crescent.config import GenerateConfig

PROBES = "probes"  # counters: drawn, tokens


class ProbeTable(Table):
    """Probe ``idx`` of each unanimous question, in the order drawn."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS probes (
  question_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, answer TEXT,
  tokens INTEGER NOT NULL, finish_reason TEXT, PRIMARY KEY (question_id, idx));
"""

    def drawn(self) -> dict[str, int]:
        """Probes drawn so far, per question that has any."""
        return dict(
            self.db.execute("SELECT question_id, COUNT(*) FROM probes GROUP BY question_id").fetchall()
        )

    def insert(self, question_id: str, idx: int, completion: Completion) -> None:
        self.db.execute(
            "INSERT INTO probes (question_id, idx, text, answer, tokens, finish_reason)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                question_id,
                idx,
                completion.text[:MAX_SOLUTION_CHARS],
                extract_answer(completion.text),
                completion.tokens,
                completion.finish_reason,
            ),
        )

    def first(self, question_id: str, probes: int) -> list[tuple[str, str | None, str | None]]:
        """``(text, answer, finish_reason)`` of the question's first ``probes`` probes, in order."""
        return self.db.execute(
            "SELECT text, answer, finish_reason FROM probes WHERE question_id = ? AND idx < ? ORDER BY idx",
            (question_id, probes),
        ).fetchall()


@dataclass(frozen=True)
class KeptQuestion:
    """What a pair is built from: one kept outcome (``outcomes`` row) and its question."""

    id: str
    question: str
    answer: str
    solution: str
    counts: dict[str, int]
    consensus: float
    votes_used: int
    paths: list[str]
    rejected: str | None
    rejected_votes: int


def unanimous(kept: Sequence[KeptQuestion]) -> list[KeptQuestion]:
    """Kept questions with no losing vote: the ones probes are drawn for."""
    return [k for k in kept if k.rejected is None]


def draw_probes(
    config: GenerateConfig,
    store: RunStore,
    executor: Executor,
    kept: Sequence[KeptQuestion],
    session: Session,
    progress: Any,
) -> None:
    """Draw each unanimous question's missing probes (up to ``config.pair_probes``), resumably."""
    if not config.pair_probes:
        return
    table = ProbeTable(store.db)
    drawn = table.drawn()
    keyed = []
    for k in unanimous(kept):
        have = drawn.get(k.id, 0)
        if have < config.pair_probes:
            keyed.append((k.id, probe_request(k.id, k.question, config, have)))
    params = SamplingParams(config.pair_probe_temperature, config.vote_top_p, config.vote_max_tokens)

    def record(qid: str, completions: list[Completion]) -> int:
        start = drawn.get(qid, 0)
        for offset, completion in enumerate(completions):
            table.insert(qid, start + offset, completion)
            store.count(PROBES, "drawn")
            store.count(PROBES, "tokens", completion.tokens)
        return sum(c.tokens for c in completions)

    if not keyed:
        return
    bar = progress.add_task("pair probes", total=len(keyed), completed=0, info="")

    def skip(qid: str, reason: str) -> None:  # its votes were skipped alike: no pair to find
        warn_skipped(f"pair probe of question {qid}", reason)

    for keys in sample_and_record(executor, store, session, keyed, params, config.batch_size, record, skip):
        progress.advance(bar, len(keys))


def probe_request(qid: str, question: str, config: GenerateConfig, first_index: int) -> SampleRequest:
    """Probe ``j`` of a question is seeded by (seed, question, j) alone, apart from its votes' seeds."""
    return SampleRequest(
        messages=solve_messages(question, config.solve_instruction),
        n=config.pair_probes - first_index,
        seed=derive_seed("probe", config.seed, qid),
        first_index=first_index,
    )


def _probe_rejected(store: RunStore, k: KeptQuestion, probes: int) -> str | None:
    """The first of the question's probes (of the first ``probes``) whose answer is a different one.

    A probe without an extractable answer is not taken: with all votes agreeing, a rejected side that
    merely rambles past the token cap teaches the format, not the mistake.
    """
    for text, answer, finish in ProbeTable(store.db).first(k.id, probes):
        if answer is not None and finish == "stop" and not answers_equal(answer, k.answer):
            return text.strip()
    return None


def pair_rows(
    config: GenerateConfig, store: RunStore, kept: Sequence[KeptQuestion]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """``pairs.jsonl`` rows for the kept questions that have a rejected solution, and their counters.

    ``weight = (votes_chosen - votes_rejected) / K``, K being the votes the label rests on (``--votes``,
    or fewer where adaptive voting settled early): near 1 for a clear majority over a lone outlier, near
    0 for a narrow one. A probe's rejected solution had no vote, so its weight is ``votes_chosen / K``.
    """
    rows: list[dict[str, Any]] = []
    counters = {"from_votes": 0, "from_probes": 0, "unanimous_without_pair": 0}
    for k in kept:
        rejected, rejected_votes = k.rejected, k.rejected_votes
        source = "votes"
        if rejected is None and config.pair_probes:
            rejected, rejected_votes, source = _probe_rejected(store, k, config.pair_probes), 0, "probes"
        if rejected is None:
            counters["unanimous_without_pair"] += 1
            continue
        counters[f"from_{source}"] += 1
        chosen_votes = k.counts.get(k.answer, 0)
        rows.append(
            {
                "id": k.id,
                "question": k.question,
                "prompt": [{"role": "user", "content": solve_prompt(k.question, config.solve_instruction)}],
                "chosen": [{"role": "assistant", "content": k.solution}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "weight": round((chosen_votes - rejected_votes) / k.votes_used, 4) if k.votes_used else 0.0,
                "answer": k.answer,
                "rejected_answer": extract_answer(rejected),
                "votes_chosen": chosen_votes,
                "votes_rejected": rejected_votes,
                "votes": k.votes_used,
                "rejected_from": source,
            }
        )
    return rows, counters


def kept_questions(store: RunStore, limit: int) -> list[KeptQuestion]:
    """The kept outcomes of the first ``limit`` questions, in the order they were accepted."""
    outcomes = OutcomeTable(store.db).by_question()
    kept = []
    for qid, question in QuestionTable(store.db).first(limit):
        o = outcomes.get(qid)
        if o is None or not o.kept:
            continue
        kept.append(
            KeptQuestion(
                qid,
                question,
                o.answer,
                o.solution,
                o.counts,
                o.consensus,
                o.votes_used or 0,
                o.paths if o.paths is not None else [o.solution],  # written before version 4, not relabelled
                o.rejected,
                o.rejected_votes or 0,
            )
        )
    return kept
