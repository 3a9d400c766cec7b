"""The ``eval`` driver: score a model on a benchmark task (``crescent.eval.tasks``), resumable.

It mirrors ``pipeline/generate.py``: sampling goes through an executor, every scored item is written to
the run store in the same transaction as its outputs, and a rerun with the same config (``limit`` may
grow) scores only the items not yet done. The task decides the items, the prompt and how outputs score
(math: the majority answer compared as a number; humaneval: the function run against its tests).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crescent.backends.base import Completion, SampleRequest, SamplingParams, Usage, derive_seed
from crescent.config import EvalConfig, fields_with, fingerprint, resumable_changes
from crescent.errors import CrescentError
from crescent.eval.by_depth import accuracy_by_depth, describe_by_depth
from crescent.eval.data import EvalItem, Shot, draw_shots, file_sha256
from crescent.eval.stats import wilson_interval
from crescent.eval.tasks import TASKS
from crescent.executors import Executor
from crescent.pipeline.labels import MAX_SOLUTION_CHARS
from crescent.pipeline.sampling import sample_and_record, warn_skipped
from crescent.progress import make_progress
from crescent.results.eval import EvalResults
from crescent.session import SCHEMA as SESSION_SCHEMA
from crescent.session import OpenRun, open_run, rate, totals
from crescent.store import RunStore, write_atomic

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS items (
  position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, question TEXT NOT NULL, gold TEXT NOT NULL,
  prediction TEXT, correct INTEGER NOT NULL, consensus REAL NOT NULL, counts TEXT NOT NULL,
  tokens INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outputs (
  item_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, answer TEXT, tokens INTEGER NOT NULL,
  finish_reason TEXT, PRIMARY KEY (item_id, idx));
CREATE TABLE IF NOT EXISTS skipped (id TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""
    + SESSION_SCHEMA
)


_Outputs = dict[str, list[tuple[str, str | None, str | None]]]  # item id -> [(text, answer, finish_reason)]


@dataclass
class EvalResult:
    out: Path
    results_path: Path
    predictions_path: Path
    results: EvalResults

    def stdout(self) -> str:
        return str(self.results_path)

    def describe(self) -> str:
        r = self.results
        low, high = r.ci95
        skipped = f"; {len(r.skipped)} items skipped (listed in {r.FILE})" if r.skipped else ""
        return (
            f"done: {r.metric} {r.accuracy:.1%} ({r.correct}/{r.n}), "
            f"95% CI [{low:.1%}, {high:.1%}], "
            f"no answer {r.extraction_failure_rate:.1%}; {r.tokens} tokens in {r.wall_s} s "
            f"({r.tokens_per_s} tok/s){skipped}"
            + (f"\n{depth}" if (depth := describe_by_depth(r.by_depth or [])) else "")
        )


def evaluate(config: EvalConfig, executor: Executor | None = None) -> EvalResult:
    """Score (or finish scoring) the first ``limit`` items; write results.json and predictions.jsonl."""
    # Read every input before creating --out or loading a model: a bad line should cost nothing.
    task = TASKS[config.task]
    data = task.data(config)
    items = task.load(data)
    shots: list[Shot] = []
    if config.shots:
        assert config.fewshot_from is not None  # EvalConfig's validator guarantees it
        shots = draw_shots(config.fewshot_from, config.shots, config.seed, data, items)
    selected = items[: config.limit] if config.limit else items
    with open_run(
        config,
        config.out,
        kind="eval",
        schema=SCHEMA,
        fingerprint=_fingerprint(config, data),
        work={"scored items": "SELECT COUNT(*) FROM items", "answers": "SELECT COUNT(*) FROM outputs"},
        executor=executor,
    ) as run:
        _score(config, run, selected, shots)
        backend = run.executor.local_backend
        usage = backend.usage if backend is not None else None
        return _export(config, data, run.store, selected, shots, run.resumed, usage)


def _fingerprint(config: EvalConfig, data: Path) -> dict[str, Any]:
    """What decides every item's result: file *contents* (not paths, so moving a file is harmless)."""
    ignored = resumable_changes(EvalConfig)
    if config.task == "math":  # the record of a math eval from before --task existed still matches
        ignored |= fields_with(EvalConfig, "code") | {"task"}
    values = fingerprint(config, ignored)
    values["data_sha256"] = file_sha256(data)
    uses_shots = config.shots > 0 and config.fewshot_from is not None
    values["fewshot_sha256"] = file_sha256(config.fewshot_from) if uses_shots else None
    return values


def item_request(config: EvalConfig, item: EvalItem, shots: Sequence[Shot]) -> SampleRequest:
    """Seeded by the item id alone, so batching, resuming and ``limit`` never change an item's samples."""
    return SampleRequest(
        messages=tuple(TASKS[config.task].messages(config, item.question, shots)),
        n=config.votes,
        seed=derive_seed("eval", config.seed, item.id),
    )


def _score(config: EvalConfig, run: OpenRun, selected: list[EvalItem], shots: list[Shot]) -> None:
    store = run.store
    scored = dict(store.db.execute("SELECT id, correct FROM items").fetchall())
    skipped = {item_id for (item_id,) in store.db.execute("SELECT id FROM skipped")}
    done = {item.id: bool(scored[item.id]) for item in selected if item.id in scored}
    todo = [item for item in selected if item.id not in done and item.id not in skipped]
    right, finished = sum(done.values()), len(done)
    by_id = {item.id: item for item in todo}
    keyed = [(item.id, item_request(config, item, shots)) for item in todo]
    params = SamplingParams(config.sampling_temperature, config.top_p, config.max_tokens)

    def record(item_id: str, completions: list[Completion]) -> int:
        nonlocal right
        correct, tokens = _record(config, store, by_id[item_id], completions)
        right += correct
        return tokens

    def skip(item_id: str, reason: str) -> None:
        """An item whose prompt does not fit the context is not scored; results.json lists it."""
        warn_skipped(f"item {item_id} ({config.data}:{by_id[item_id].line})", reason)
        store.db.execute("INSERT OR REPLACE INTO skipped (id, reason) VALUES (?, ?)", (item_id, reason))

    with make_progress(config.quiet) as progress:
        bar = progress.add_task(
            "eval", total=len(selected), completed=finished, info=_running(right, finished)
        )
        for keys in sample_and_record(
            run.executor, store, run.session, keyed, params, config.batch_size, record, skip
        ):
            finished += len(keys)
            progress.update(bar, completed=finished, info=_running(right, finished))


def _running(right: int, done: int) -> str:
    return f"acc {right / done:.1%}" if done else ""


def _record(
    config: EvalConfig, store: RunStore, item: EvalItem, completions: list[Completion]
) -> tuple[bool, int]:
    """Score and write one item and its outputs (inside the caller's transaction): (correct, tokens)."""
    scored = TASKS[config.task].score(config, item, completions)
    tokens = sum(c.tokens for c in completions)
    for idx, (completion, answer) in enumerate(zip(completions, scored.answers, strict=True)):
        store.db.execute(
            "INSERT INTO outputs (item_id, idx, text, answer, tokens, finish_reason)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                item.id,
                idx,
                completion.text[:MAX_SOLUTION_CHARS],
                answer,
                completion.tokens,
                completion.finish_reason,
            ),
        )
    store.db.execute(
        "INSERT INTO items (position, id, question, gold, prediction, correct, consensus, counts, tokens)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            item.position,
            item.id,
            item.question,
            item.gold,
            scored.prediction,
            int(scored.correct),
            scored.consensus,
            json.dumps(scored.counts, ensure_ascii=False),
            tokens,
        ),
    )
    return scored.correct, tokens


def _export(
    config: EvalConfig,
    data: Path,
    store: RunStore,
    selected: list[EvalItem],
    shots: list[Shot],
    resumed: bool,
    usage: Usage | None,
) -> EvalResult:
    rows = store.db.execute(
        "SELECT id, question, gold, prediction, correct, consensus, counts, tokens FROM items"
        " WHERE position < ? ORDER BY position",
        (len(selected),),
    ).fetchall()
    outputs: _Outputs = {}
    for item_id, text, answer, finish in store.db.execute(
        "SELECT o.item_id, o.text, o.answer, o.finish_reason FROM outputs o JOIN items i ON i.id = o.item_id"
        " WHERE i.position < ? ORDER BY i.position, o.idx",
        (len(selected),),
    ):
        outputs.setdefault(item_id, []).append((text, answer, finish))
    task = TASKS[config.task]
    depths = {item.id: item.depth for item in selected}
    lines = []
    for item_id, question, gold, prediction, correct, consensus, counts, tokens in rows:
        outs = outputs.get(item_id, [])
        record = {
            "id": item_id,
            "question": question,
            "prompt": task.messages(config, question, shots),
            "outputs": [text for text, _, _ in outs],
            "answers": [answer for _, answer, _ in outs],
            "finish_reasons": [finish for _, _, finish in outs],
            "prediction": prediction,
            "gold": gold,
            "depth": depths[item_id],
            "correct": bool(correct),
            "consensus": round(consensus, 4),
            "votes": json.loads(counts),
            "tokens": tokens,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    predictions_path = config.out / EvalResults.ROWS
    write_atomic(predictions_path, "".join(line + "\n" for line in lines))
    lines_by_id = {item.id: item.line for item in selected}
    skipped = [
        {"id": item_id, "line": lines_by_id[item_id], "reason": reason}
        for item_id, reason in store.db.execute("SELECT id, reason FROM skipped")
        if item_id in lines_by_id
    ]
    if not rows:
        first = f" (line {skipped[0]['line']}: {skipped[0]['reason']})" if skipped else ""
        raise CrescentError(f"no item of {data} could be scored: {len(skipped)} skipped{first}")
    row_depths = [depths[r[0]] for r in rows]
    results = _summary(config, data, store, rows, row_depths, outputs, shots, resumed, usage)
    results["skipped"] = sorted(skipped, key=lambda s: s["line"])
    summary = EvalResults.from_json(results)
    results_path = summary.to_dir(config.out)
    return EvalResult(config.out, results_path, predictions_path, summary)


def _summary(
    config: EvalConfig,
    data: Path,
    store: RunStore,
    rows: list[tuple[Any, ...]],
    depths: list[int | None],
    outputs: _Outputs,
    shots: list[Shot],
    resumed: bool,
    usage: Usage | None,
) -> dict[str, Any]:
    n = len(rows)
    right = sum(int(r[4]) for r in rows)
    no_answer = sum(1 for r in rows if r[3] is None)
    all_outputs = [o for outs in outputs.values() for o in outs]
    unextracted = sum(1 for o in all_outputs if o[1] is None)
    truncated = sum(1 for o in all_outputs if o[2] == "length")
    low, high = wilson_interval(right, n)
    # Throughput counts every token this store ever generated, over the wall time that produced them.
    generated = store.scalar("SELECT COALESCE(SUM(tokens), 0) FROM items")
    wall, _, sessions = totals(store)
    task = TASKS[config.task]
    results: dict[str, Any] = {
        "task": config.task,
        "metric": task.metric,  # what "accuracy" measures: the share of items scored correct
        "accuracy": round(right / n, 4),
        "correct": right,
        "n": n,
        "ci95": [round(low, 4), round(high, 4)],
        "by_depth": accuracy_by_depth([bool(r[4]) for r in rows], depths),
        "extraction_failure_rate": round(no_answer / n, 4),
        "output_extraction_failure_rate": rate(unextracted, len(all_outputs)),
        "truncated_rate": rate(truncated, len(all_outputs)),
        "votes": config.votes,
        "temperature": config.sampling_temperature,
        "shots": [{"line": s.line, "question": s.question} for s in shots],
        "tokens": sum(int(r[7]) for r in rows),
        "wall_s": round(wall, 2),
        "tokens_per_s": round(generated / wall, 2) if wall else 0.0,
        "resumed": resumed,
        "sessions": sessions,
        "data_sha256": file_sha256(data),
        **task.summary(config),
        "config": config.model_dump(mode="json"),
    }
    if usage is not None:
        results["backend_usage_this_session"] = usage.as_dict()
    return results
