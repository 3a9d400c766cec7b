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
from crescent.config import EvalConfig, fields_with
from crescent.errors import CrescentError
from crescent.eval.by_depth import accuracy_by_depth, describe_by_depth
from crescent.eval.data import EvalItem, Shot, draw_shots
from crescent.eval.items import ItemTable, Outputs, ScoredItem, SkippedTable
from crescent.eval.stats import wilson_interval
from crescent.eval.tasks import TASKS
from crescent.executors import Executor
from crescent.migrations import MIGRATIONS
from crescent.pipeline.sampling import sample_and_record, warn_skipped
from crescent.progress import make_progress
from crescent.results.eval import EvalResults
from crescent.run_folder import fingerprint, input_hashes
from crescent.session import OpenRun, SessionTable, open_run, rate, totals
from crescent.store import RunStore, schema_of, write_atomic

SCHEMA = schema_of(ItemTable, SkippedTable, SessionTable)


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
        work={"scored items": ItemTable.NAME, "answers": ItemTable.OUTPUTS},
        executor=executor,
        migrations=MIGRATIONS,
    ) as run:
        _score(config, run, selected, shots)
        backend = run.executor.local_backend
        usage = backend.usage if backend is not None else None
        return _export(config, data, run.store, selected, shots, run.resumed, usage)


def _fingerprint(config: EvalConfig, data: Path) -> dict[str, Any]:
    """What decides every item's result: file *contents* (not paths, so moving a file is harmless)."""
    ignored: frozenset[str] = frozenset()
    if config.task == "math":  # the record of a math eval from before --task existed still matches
        ignored = fields_with(EvalConfig, "code") | {"task"}
    uses_shots = config.shots > 0 and config.fewshot_from is not None
    inputs = {"data": data, "fewshot": config.fewshot_from if uses_shots else None}
    return fingerprint(config, inputs, ignore=ignored)


def item_request(config: EvalConfig, item: EvalItem, shots: Sequence[Shot]) -> SampleRequest:
    """Seeded by the item id alone, so batching, resuming and ``limit`` never change an item's samples."""
    return SampleRequest(
        messages=tuple(TASKS[config.task].messages(config, item.question, shots)),
        n=config.votes,
        seed=derive_seed("eval", config.seed, item.id),
    )


def _score(config: EvalConfig, run: OpenRun, selected: list[EvalItem], shots: list[Shot]) -> None:
    store = run.store
    scored = ItemTable(store.db).correct_by_id()
    skipped = SkippedTable(store.db).reasons().keys()
    done = {item.id: scored[item.id] for item in selected if item.id in scored}
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
        SkippedTable(store.db).add(item_id, reason)

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
    row = ScoredItem(
        item.id,
        item.question,
        item.gold,
        scored.prediction,
        scored.correct,
        scored.consensus,
        scored.counts,
        tokens,
    )
    ItemTable(store.db).insert(row, item.position, completions, scored.answers)
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
    items = ItemTable(store.db)
    rows = items.first(len(selected))
    outputs = items.outputs(len(selected))
    task = TASKS[config.task]
    depths = {item.id: item.depth for item in selected}
    lines = []
    for row in rows:
        outs = outputs.get(row.id, [])
        record = {
            "id": row.id,
            "question": row.question,
            "prompt": task.messages(config, row.question, shots),
            "outputs": [text for text, _, _ in outs],
            "answers": [answer for _, answer, _ in outs],
            "finish_reasons": [finish for _, _, finish in outs],
            "prediction": row.prediction,
            "gold": row.gold,
            "depth": depths[row.id],
            "correct": row.correct,
            "consensus": round(row.consensus, 4),
            "votes": row.counts,
            "tokens": row.tokens,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    predictions_path = config.out / EvalResults.ROWS
    write_atomic(predictions_path, "".join(line + "\n" for line in lines))
    lines_by_id = {item.id: item.line for item in selected}
    skipped = [
        {"id": item_id, "line": lines_by_id[item_id], "reason": reason}
        for item_id, reason in SkippedTable(store.db).reasons().items()
        if item_id in lines_by_id
    ]
    if not rows:
        first = f" (line {skipped[0]['line']}: {skipped[0]['reason']})" if skipped else ""
        raise CrescentError(f"no item of {data} could be scored: {len(skipped)} skipped{first}")
    row_depths = [depths[r.id] for r in rows]
    results = _summary(config, data, store, rows, row_depths, outputs, shots, resumed, usage)
    results["skipped"] = sorted(skipped, key=lambda s: s["line"])
    summary = EvalResults.from_json(results)
    results_path = summary.to_dir(config.out)
    return EvalResult(config.out, results_path, predictions_path, summary)


def _summary(
    config: EvalConfig,
    data: Path,
    store: RunStore,
    rows: list[ScoredItem],
    depths: list[int | None],
    outputs: Outputs,
    shots: list[Shot],
    resumed: bool,
    usage: Usage | None,
) -> dict[str, Any]:
    n = len(rows)
    right = sum(int(r.correct) for r in rows)
    no_answer = sum(1 for r in rows if r.prediction is None)
    all_outputs = [o for outs in outputs.values() for o in outs]
    unextracted = sum(1 for o in all_outputs if o[1] is None)
    truncated = sum(1 for o in all_outputs if o[2] == "length")
    low, high = wilson_interval(right, n)
    # Throughput counts every token this store ever generated, over the wall time that produced them.
    generated = ItemTable(store.db).tokens()
    wall, _, sessions = totals(store)
    task = TASKS[config.task]
    results: dict[str, Any] = {
        "task": config.task,
        "metric": task.metric,  # what "accuracy" measures: the share of items scored correct
        "accuracy": round(right / n, 4),
        "correct": right,
        "n": n,
        "ci95": [round(low, 4), round(high, 4)],
        "by_depth": accuracy_by_depth([r.correct for r in rows], depths),
        "extraction_failure_rate": round(no_answer / n, 4),
        "output_extraction_failure_rate": rate(unextracted, len(all_outputs)),
        "truncated_rate": rate(truncated, len(all_outputs)),
        "votes": config.votes,
        "temperature": config.sampling_temperature,
        "shots": [{"line": s.line, "question": s.question} for s in shots],
        "tokens": sum(r.tokens for r in rows),
        "wall_s": round(wall, 2),
        "tokens_per_s": round(generated / wall, 2) if wall else 0.0,
        "resumed": resumed,
        "sessions": sessions,
        **input_hashes({"data": data}),
        **task.summary(config),
        "config": config.model_dump(mode="json"),
    }
    if usage is not None:
        results["backend_usage_this_session"] = usage.as_dict()
    return results
