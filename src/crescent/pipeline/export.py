"""Step 4, export: ``data.jsonl`` (chat ``messages`` that datasets/TRL load as is) and ``stats.json``."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crescent.backends.base import Usage
from crescent.prompts import solve_prompt
from crescent.session import rate, totals
from crescent.store import RunStore, write_atomic

if TYPE_CHECKING:
    from crescent.config import GenerateConfig
HISTOGRAM_BINS = 10


@dataclass
class GenerateResult:
    out: Path
    data_path: Path
    stats_path: Path
    stats: dict


def export_run(
    config: GenerateConfig, store: RunStore, *, stop_reason: str, resumed: bool, usage: Usage | None
) -> GenerateResult:
    rows = store.db.execute(
        "SELECT q.id, q.question, o.answer, o.solution, o.counts, o.consensus FROM"
        " (SELECT id, question, attempt FROM questions ORDER BY attempt LIMIT ?) q"
        " JOIN outcomes o ON o.question_id = q.id WHERE o.kept = 1 ORDER BY q.attempt",
        (config.questions,),
    ).fetchall()
    lines = []
    for qid, question, answer, solution, counts, consensus in rows:
        record = {
            "id": qid,
            "question": question,
            "answer": answer,
            "solution": solution,
            "votes": json.loads(counts),
            "consensus": round(consensus, 4),
            "messages": [
                {"role": "user", "content": solve_prompt(question, config.solve_instruction)},
                {"role": "assistant", "content": solution},
            ],
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    data_path = config.out / "data.jsonl"
    write_atomic(data_path, "".join(line + "\n" for line in lines))
    stats = collect_stats(config, store, stop_reason=stop_reason, resumed=resumed, usage=usage)
    stats["export"] = {"rows": len(lines), "path": str(data_path)}
    stats_path = config.out / "stats.json"
    write_atomic(stats_path, json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    return GenerateResult(config.out, data_path, stats_path, stats)


def collect_stats(
    config: GenerateConfig, store: RunStore, *, stop_reason: str, resumed: bool, usage: Usage | None
) -> dict[str, Any]:
    def counts(sql: str) -> dict[str, int]:
        return {str(k): v for k, v in store.db.execute(sql).fetchall()}

    attempts = store.scalar("SELECT COUNT(*) FROM candidates")
    accepted = store.scalar("SELECT COUNT(*) FROM questions")
    cleaned = store.scalar("SELECT COUNT(*) FROM candidates WHERE question IS NOT NULL")
    bait_tokens = store.scalar("SELECT COALESCE(SUM(tokens), 0) FROM candidates")
    vote_tokens = store.scalar("SELECT COALESCE(SUM(tokens), 0) FROM votes")
    consensus = [c for (c,) in store.db.execute("SELECT consensus FROM outcomes WHERE answer IS NOT NULL")]
    histogram = Counter(min(int(c * HISTOGRAM_BINS), HISTOGRAM_BINS - 1) for c in consensus)
    wall, _, sessions = totals(store)
    tokens = bait_tokens + vote_tokens
    stats: dict[str, Any] = {
        "stop_reason": stop_reason,
        "resumed": resumed,
        "bait": {
            "attempts": attempts,
            "cleaned": cleaned,
            "accepted": accepted,
            "rejected": counts(
                "SELECT reason, COUNT(*) FROM candidates WHERE status = 'rejected' GROUP BY reason"
            ),
            "clean_rate": round(cleaned / attempts, 4) if attempts else 0.0,
            "dedup_acceptance_rate": round(accepted / cleaned, 4) if cleaned else 0.0,
            "tokens": bait_tokens,
        },
        "vote": {
            "questions": store.scalar("SELECT COUNT(*) FROM outcomes"),
            "kept": store.scalar("SELECT COUNT(*) FROM outcomes WHERE kept = 1"),
            "dropped": counts("SELECT reason, COUNT(*) FROM outcomes WHERE kept = 0 GROUP BY reason"),
            "votes_per_question": config.votes,
            "adaptive": config.adaptive_votes,
            "votes_drawn": store.scalar("SELECT COUNT(*) FROM votes"),
            "votes_saved": max(
                0,
                config.votes * store.scalar("SELECT COUNT(*) FROM outcomes")
                - store.scalar(
                    "SELECT COUNT(*) FROM votes WHERE question_id IN (SELECT question_id FROM outcomes)"
                ),
            ),
            "votes_unfinished": store.scalar("SELECT COUNT(*) FROM votes WHERE finish_reason = 'length'"),
            "label_policy": store.get_meta("label_policy"),
            "extraction_rate": rate(
                store.scalar("SELECT COUNT(*) FROM votes WHERE answer IS NOT NULL"),
                store.scalar("SELECT COUNT(*) FROM votes"),
            ),
            "consensus_histogram": {
                f"{b / HISTOGRAM_BINS:.1f}-{(b + 1) / HISTOGRAM_BINS:.1f}": histogram.get(b, 0)
                for b in range(HISTOGRAM_BINS)
            },
            "mean_consensus": round(sum(consensus) / len(consensus), 4) if consensus else 0.0,
            "tokens": vote_tokens,
        },
        "tokens_generated": tokens,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 2) if wall else 0.0,
        "sessions": sessions,
        "config": config.model_dump(mode="json"),
    }
    if usage is not None:
        stats["backend_usage_this_session"] = usage.as_dict()
    return stats
