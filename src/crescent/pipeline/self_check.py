"""An optional label filter: the same model is asked whether a question has exactly one numeric answer.

Voting cannot tell a problem from a non-problem its votes happen to agree on: Qwen2.5-0.5B labelled
"What is the difference between 'happy' and 'joy'?" with 2, three votes out of three. A model that
cannot always write a real problem can often still *recognise* one, so ``--self-check`` asks it, with no
outside data, and drops the question on a "no" (reason ``self_check``).

The verdict is one greedy sample of a few tokens per question, stored with the votes, so the filter is
like the others a pure function of stored data: switching it off relabels without sampling, switching it
on samples only the verdicts still missing. An answer that is neither yes nor no is kept ("unclear"):
the filter drops only what the model itself rejects. The step owns its table and its counters
(``asked``, ``yes``, ``no``, ``unclear``), which ``stats.json`` reports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from crescent.backends.base import Completion, SampleRequest, SamplingParams, derive_seed
from crescent.executors import Executor
from crescent.pipeline.sampling import sample_and_record, warn_skipped
from crescent.session import Session
from crescent.store import RunStore, Table

SELF_CHECK_QUESTION = (
    "Does the following math problem have exactly one numeric answer? Reply with only yes or no."
)
MAX_VERDICT_TOKENS = 8  # "Yes." / "No." and a little slack; the verdict is read from the first words
MAX_VERDICT_CHARS = 200  # model output is untrusted: only this much of it is kept
STEP = "self_check"  # counter step: asked, yes, no, unclear
VERDICT_NAMES = {True: "yes", False: "no", None: "unclear"}


class SelfCheckTable(Table):
    """One verdict per question (``None``: unclear, or the question did not fit the context)."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS self_checks (
  question_id TEXT PRIMARY KEY, text TEXT NOT NULL, verdict INTEGER);
"""

    def insert(self, question_id: str, text: str, verdict: bool | None) -> None:
        self.db.execute(
            "INSERT INTO self_checks (question_id, text, verdict) VALUES (?, ?, ?)",
            (question_id, text[:MAX_VERDICT_CHARS], None if verdict is None else int(verdict)),
        )

    def verdicts(self) -> dict[str, bool | None]:
        """Every stored verdict by question id (a question never asked is absent)."""
        return {
            qid: None if verdict is None else bool(verdict)
            for qid, verdict in self.db.execute("SELECT question_id, verdict FROM self_checks")
        }


_VERDICT = re.compile(r"^\W*(?:\w+\W+){0,6}?(yes|no)\b", re.IGNORECASE)  # "The answer ... is yes."


def self_check_request(question_id: str, question: str, seed: int) -> SampleRequest:
    content = f"{SELF_CHECK_QUESTION}\n\nProblem: {question.strip()}"
    return SampleRequest(
        messages=({"role": "user", "content": content},),
        n=1,
        seed=derive_seed("self_check", seed, question_id),
    )


def parse_verdict(text: str) -> bool | None:
    """True for yes, False for no, None when the first few words say neither."""
    match = _VERDICT.match(text[:MAX_VERDICT_CHARS])
    return None if match is None else match.group(1).lower() == "yes"


def run_self_checks(
    store: RunStore,
    executor: Executor,
    questions: Sequence[tuple[str, str]],
    *,
    seed: int,
    batch_size: int,
    session: Session,
    progress: Any,
) -> None:
    """Ask for the verdict of every ``(id, question)`` that has none yet, committing each call's answers."""
    table = SelfCheckTable(store.db)
    done = table.verdicts().keys()
    todo = [(qid, q) for qid, q in questions if qid not in done]
    if not todo:
        return
    bar = progress.add_task("self-check", total=len(questions), completed=len(questions) - len(todo), info="")
    keyed = [(qid, self_check_request(qid, question, seed)) for qid, question in todo]
    params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=MAX_VERDICT_TOKENS)

    def record(qid: str, completions: list[Completion]) -> int:
        (completion,) = completions
        verdict = parse_verdict(completion.text)
        table.insert(qid, completion.text, verdict)
        count_verdict(store, verdict)
        return completion.tokens

    def skip(qid: str, reason: str) -> None:  # no verdict: the filter keeps it (its votes decide alone)
        warn_skipped(f"self-check of question {qid}", reason)
        table.insert(qid, reason, None)
        count_verdict(store, None)

    for keys in sample_and_record(executor, store, session, keyed, params, batch_size, record, skip):
        progress.advance(bar, len(keys))


def count_verdict(store: RunStore, verdict: bool | None) -> None:
    store.count(STEP, "asked")
    store.count(STEP, VERDICT_NAMES[verdict])


def recount_verdicts(store: RunStore) -> None:
    """Rebuild the counters from the rows (for the test that they never drift, and old stores)."""
    store.reset_counters(STEP)
    for verdict in SelfCheckTable(store.db).verdicts().values():
        count_verdict(store, verdict)
