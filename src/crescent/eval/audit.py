"""``crescent audit``: how often is the label that ``generate`` would keep actually right?

The audit runs generate's labelling path (same solve prompt, vote sampling, adaptive waves, filters and
consensus rule: ``pipeline.vote.run_votes``) on questions that have gold answers, then scores the labels.
Because labels are a pure function of the stored votes, one set of votes answers every "what if":
precision and coverage at each consensus threshold, without each filter, under the paper's plain
majority vote, and, for a fixed-K run, what adaptive voting would have drawn (its votes are a prefix of
the fixed run's, so the replay is exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from crescent.answers import answers_equal, extract_answer
from crescent.backends.base import Completion, SamplingParams
from crescent.config import AuditConfig
from crescent.eval.data import EvalItem, load_items
from crescent.eval.stats import wilson_interval
from crescent.executors import Executor
from crescent.migrations import MIGRATIONS
from crescent.pipeline.labels import LABEL_FILTERS, LabelPolicy, decide
from crescent.pipeline.sampling import sample_and_record, warn_skipped
from crescent.pipeline.self_check import STEP as SELF_CHECK_STEP
from crescent.pipeline.self_check import SelfCheckTable
from crescent.pipeline.vote import VotePlan, run_votes, vote_request
from crescent.pipeline.vote_tables import MAX_VOTE_CHARS, OutcomeTable, VoteTable
from crescent.progress import make_progress
from crescent.results.audit import AuditSummary
from crescent.run_folder import fingerprint
from crescent.session import Session, SessionTable, open_run, totals
from crescent.store import RunStore, Table, schema_of


class GreedyTable(Table):
    """One greedy (temperature 0) answer per item, for ``greedy_accuracy``."""

    NAME = "greedy"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS greedy (
  question_id TEXT PRIMARY KEY, text TEXT NOT NULL, answer TEXT, tokens INTEGER NOT NULL);
"""

    def insert(self, question_id: str, completion: Completion) -> None:
        self.db.execute(
            "INSERT INTO greedy (question_id, text, answer, tokens) VALUES (?, ?, ?, ?)",
            (
                question_id,
                completion.text[:MAX_VOTE_CHARS],
                extract_answer(completion.text),
                completion.tokens,
            ),
        )

    def answers(self) -> dict[str, str | None]:
        return dict(self.db.execute("SELECT question_id, answer FROM greedy").fetchall())


SCHEMA = schema_of(VoteTable, OutcomeTable, SelfCheckTable, GreedyTable, SessionTable)


@dataclass
class AuditResult:
    out: Path
    audit_path: Path
    report_path: Path
    audit: AuditSummary

    def stdout(self) -> str:
        return str(self.audit_path)

    def describe(self) -> str:
        default, plain = self.audit.default, self.audit.plain_majority
        return (
            f"audit of {self.audit.n} items: configured filters keep {default.coverage:.0%} "
            f"with precision {default.precision}; plain majority keeps {plain.coverage:.0%} "
            f"with precision {plain.precision}"
        )


def audit(config: AuditConfig, executor: Executor | None = None) -> AuditResult:
    """Vote on the first ``limit`` gold-answered items (resumable), then score the labels."""
    items = load_items(config.data)
    selected = items[: config.limit] if config.limit else items
    with open_run(
        config,
        config.out,
        kind="audit",
        schema=SCHEMA,
        fingerprint=fingerprint(config, {"data": config.data}),
        work={"votes": VoteTable.NAME, "greedy answers": GreedyTable.NAME},
        executor=executor,
        migrations=MIGRATIONS,
    ) as run:
        questions = [(item.id, item.question) for item in selected]
        with make_progress(config.quiet) as progress:
            plan = VotePlan.from_config(config)
            run_votes(plan, run.store, run.executor, questions, progress, run.session, label="audit votes")
            if config.greedy:
                _greedy(config, run.store, run.executor, selected, run.session)
        result = AuditSummary.from_json(summarize(config, run.store, selected))
        path = result.to_dir(config.out)  # written while --out is still held
        from crescent.eval.audit_report import write_audit_report

        report = write_audit_report(config.out, result)
    return AuditResult(config.out, path, report, result)


def _greedy(
    config: AuditConfig, store: RunStore, executor: Executor, items: list[EvalItem], session: Session
) -> None:
    table = GreedyTable(store.db)
    done = table.answers().keys()
    todo = [item for item in items if item.id not in done]
    keyed = [(i.id, vote_request(i.id, i.question, config.solve_instruction, 1, config.seed)) for i in todo]
    params = SamplingParams(0.0, 1.0, config.vote_max_tokens)

    def record(qid: str, completions: list[Completion]) -> int:
        (completion,) = completions
        table.insert(qid, completion)
        return completion.tokens

    def skip(qid: str, reason: str) -> None:  # its votes were skipped too, so summarize leaves it out
        warn_skipped(f"greedy answer of item {qid}", reason)

    for _ in sample_and_record(executor, store, session, keyed, params, config.batch_size, record, skip):
        pass


def _score(
    items: Sequence[EvalItem],
    votes: dict[str, list[Completion]],
    policy: LabelPolicy,
    verdicts: dict[str, bool | None],
) -> dict[str, Any]:
    kept = right = 0
    for item in items:
        outcome = decide(votes[item.id], policy, item.question, verdicts.get(item.id))
        if outcome.kept:
            kept += 1
            right += answers_equal(item.gold, outcome.answer)
    n = len(items)
    return {
        "kept": kept,
        "correct": right,
        "coverage": round(kept / n, 4) if n else 0.0,
        "precision": round(right / kept, 4) if kept else None,
        "precision_ci95": [round(x, 4) for x in wilson_interval(right, kept)] if kept else None,
    }


def _by_votes(
    items: Sequence[EvalItem],
    votes: dict[str, list[Completion]],
    k: int,
    policy: LabelPolicy,
    verdicts: dict[str, bool | None],
) -> list[dict[str, Any]]:
    """Coverage, precision and tie rate at every smaller ``--votes``, from the first j votes of each item.

    Exact, not simulated: vote j of an item is seeded by (seed, item, j) alone, so the first j of K fixed
    votes are the votes a ``--votes j`` audit would have drawn.
    """
    rows = []
    for j in range(1, k + 1):
        prefixes = {item.id: votes[item.id][:j] for item in items}
        ties = sum(
            decide(prefixes[i.id], policy, i.question, verdicts.get(i.id)).reason == "tie" for i in items
        )
        rows.append(
            {
                "votes": j,
                **_score(items, prefixes, policy, verdicts),
                "tie_rate": round(ties / len(items), 4) if items else 0.0,
            }
        )
    return rows


def _adaptive_replay(
    items: Sequence[EvalItem], votes: dict[str, list[Completion]], plan: VotePlan
) -> tuple[dict[str, list[Completion]], int]:
    """The votes adaptive voting would have drawn from these fixed-K votes (an exact prefix per item)."""
    adaptive = replace(plan, adaptive=True)
    prefixes = {item.id: votes[item.id][: adaptive.votes_used(votes[item.id])] for item in items}
    return prefixes, sum(len(v) for v in prefixes.values())


def summarize(config: AuditConfig, store: RunStore, items: Sequence[EvalItem]) -> dict[str, Any]:
    """audit.json: label precision and coverage under the configured policy and its variations."""
    all_votes = VoteTable(store.db).by_question()
    scored = [item for item in items if len(all_votes.get(item.id, []))]
    plan = VotePlan.from_config(config)
    # The votes each label rests on: after a rerun with fewer --votes, a prefix of those stored.
    votes = {
        item.id: all_votes[item.id][: plan.votes_used(all_votes[item.id]) or len(all_votes[item.id])]
        for item in scored
    }
    policy = LabelPolicy.from_config(config)
    verdicts = SelfCheckTable(store.db).verdicts()
    n = len(scored)
    first = sum(answers_equal(i.gold, extract_answer(votes[i.id][0].text)) for i in scored)
    majority = _score(scored, votes, LabelPolicy.plain_majority(0.0), verdicts)
    thresholds = sorted(
        {
            round(decide(votes[i.id], replace(policy, min_consensus=0.0, max_consensus=1.0)).consensus, 4)
            for i in scored
        }
        - {0.0}
    )
    by_threshold = [
        {
            "min_consensus": t,
            **_score(scored, votes, replace(policy, min_consensus=t, max_consensus=1.0), verdicts),
        }
        for t in thresholds
    ]
    default = _score(scored, votes, policy, verdicts)
    by_filter = {}
    for label_filter in LABEL_FILTERS.values():
        if not label_filter.audited:
            continue
        without = _score(scored, votes, label_filter.switched_off(policy), verdicts)
        by_filter[label_filter.key] = {
            "removed": without["kept"] - default["kept"],
            "precision_without": without["precision"],
            "coverage_without": without["coverage"],
            "wrong_removed": (without["kept"] - without["correct"]) - (default["kept"] - default["correct"]),
        }
    drawn = sum(len(v) for v in votes.values())
    result: dict[str, Any] = {
        "n": n,
        "votes": config.votes,
        "votes_drawn": drawn,
        "first_vote_accuracy": round(first / n, 4) if n else 0.0,
        "majority_accuracy": round(majority["correct"] / n, 4) if n else 0.0,
        "default": default,
        "plain_majority": _score(scored, votes, LabelPolicy.plain_majority(config.min_consensus), verdicts),
        "by_threshold": by_threshold,
        "by_filter": by_filter,
        "policy": policy.options(),
    }
    if verdicts:
        result["self_check"] = store.counters(SELF_CHECK_STEP)  # asked, yes, no, unclear
    greedy = GreedyTable(store.db).answers()
    if greedy:
        hits = [answers_equal(i.gold, greedy[i.id]) for i in scored if i.id in greedy]
        result["greedy_accuracy"] = round(sum(hits) / len(hits), 4)
    if not config.adaptive_votes and all(len(v) == config.votes for v in votes.values()):
        result["by_votes"] = _by_votes(scored, votes, config.votes, policy, verdicts)
        prefixes, used = _adaptive_replay(scored, votes, plan)
        result["adaptive_replay"] = {
            "votes_drawn": used,
            "votes_fixed": drawn,
            "votes_saved": round(1 - used / drawn, 4) if drawn else 0.0,
            **_score(scored, prefixes, policy, verdicts),
        }
    wall, _, _ = totals(store)
    tokens = VoteTable(store.db).tokens()
    result.update({"wall_s": round(wall, 1), "vote_tokens": tokens, "config": config.model_dump(mode="json")})
    return result
