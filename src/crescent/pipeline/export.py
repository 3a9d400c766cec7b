"""Step 4, export: ``data.jsonl`` (chat ``messages`` that datasets/TRL load as is), ``pairs.jsonl``
(preference pairs in TRL's conversational format, ``pipeline/pairs.py``) and ``stats.json``.

``data.jsonl`` holds up to ``--paths`` rows per kept question, one per winning solution with distinct
stated equations (``labels.distinct_paths``); ``path`` numbers them, 0 being the label's own solution.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crescent.backends.base import Usage
from crescent.depth import depth_histogram, file_depth_histogram, solution_depth
from crescent.pipeline import counting, self_check
from crescent.pipeline.given import source_stats
from crescent.pipeline.pairs import PROBES, kept_questions, pair_rows
from crescent.prompts import solve_prompt
from crescent.results.generate import GenerateStats
from crescent.runs import path_in_run
from crescent.session import rate, totals
from crescent.store import RunStore, write_atomic

if TYPE_CHECKING:
    from crescent.config import GenerateConfig

PAIRS_FILE = GenerateStats.PAIRS


@dataclass
class GenerateResult:
    out: Path
    data_path: Path
    stats_path: Path
    stats: GenerateStats
    pairs_path: Path

    def stdout(self) -> str:
        return str(self.data_path)

    def describe(self) -> str:
        s = self.stats
        read = "rows read from --questions-from" if s.from_file else "bait samples"
        pairs = s.pairs.written if s.pairs else 0
        return (
            f"done ({s.stop_reason}): {s.export.rows} rows and {pairs} preference "
            f"pairs from {s.bait.accepted} questions, "
            f"{s.bait.attempts} {read}; {s.tokens_generated} tokens in {s.wall_s} s "
            f"({s.tokens_per_s} tok/s)"
        )


def export_run(
    config: GenerateConfig, store: RunStore, *, stop_reason: str, resumed: bool, usage: Usage | None
) -> GenerateResult:
    kept = kept_questions(store, config.questions)
    lines, solutions = [], []
    for k in kept:
        for path, solution in enumerate(k.paths[: config.paths]):
            solutions.append(solution)
            record = {
                "id": k.id,
                "question": k.question,
                "answer": k.answer,
                "solution": solution,
                "path": path,
                "votes": k.counts,
                "consensus": round(k.consensus, 4),
                "messages": [
                    {"role": "user", "content": solve_prompt(k.question, config.solve_instruction)},
                    {"role": "assistant", "content": solution},
                ],
            }
            lines.append(json.dumps(record, ensure_ascii=False))
    data_path = config.out / GenerateStats.ROWS
    write_atomic(data_path, "".join(line + "\n" for line in lines))
    pairs, pair_counts = pair_rows(config, store, kept)
    pairs_path = config.out / PAIRS_FILE
    write_atomic(pairs_path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in pairs))
    stats = collect_stats(config, store, stop_reason=stop_reason, resumed=resumed, usage=usage)
    stats["export"] = {
        "rows": len(lines),
        "path": path_in_run(data_path, config.out),
        "questions": len(kept),
        "rows_per_question": _histogram(min(len(k.paths), config.paths) for k in kept),
        # What the training data teaches: a set of mostly one-step rows can teach a shortcut that a
        # multi-step benchmark punishes, so the profile is shown next to the benchmark's before training.
        "depth_histogram": depth_histogram(solution_depth(solution) for solution in solutions),
        # The same histogram for each --exclude benchmark that has solutions: both side by side.
        "benchmark_depth_histograms": {
            path_in_run(path, config.out): histogram
            for path in config.exclude
            if (histogram := file_depth_histogram(path)) is not None
        },
    }
    probes = store.counters(PROBES)
    stats["pairs"] = {
        "written": len(pairs),
        "path": path_in_run(pairs_path, config.out),
        **pair_counts,
        "mean_weight": round(sum(row["weight"] for row in pairs) / len(pairs), 4) if pairs else 0.0,
        "probes_drawn": probes.get("drawn", 0),
        "probe_tokens": probes.get("tokens", 0),
    }
    summary = GenerateStats.from_json(stats)
    stats_path = summary.to_dir(config.out)
    return GenerateResult(config.out, data_path, stats_path, summary, pairs_path)


def _histogram(values: Iterable[int]) -> dict[str, int]:
    counts = Counter(values)
    return {str(value): counts[value] for value in sorted(counts)}


def collect_stats(
    config: GenerateConfig, store: RunStore, *, stop_reason: str, resumed: bool, usage: Usage | None
) -> dict[str, Any]:
    """Assemble what the steps counted as they decided (``pipeline/counting.py``); nothing is re-derived."""
    bait, votes, labels = (
        store.counters(counting.BAIT),
        store.counters(counting.VOTES),
        store.counters(counting.LABELS),
    )
    attempts, cleaned, accepted = bait.get("attempts", 0), bait.get("cleaned", 0), bait.get("accepted", 0)
    bins = store.counters(counting.LABELS_CONSENSUS)
    with_answer = labels.get("with_answer", 0)
    wall, _, sessions = totals(store)
    tokens = bait.get("tokens", 0) + votes.get("tokens", 0) + store.counters(PROBES).get("tokens", 0)
    stats: dict[str, Any] = {
        "stop_reason": stop_reason,
        "resumed": resumed,
        "source": source_stats(config, store),
        "bait": {
            "attempts": attempts,
            "cleaned": cleaned,
            "accepted": accepted,
            "rejected": store.counters(counting.BAIT_REJECTED),
            "clean_rate": rate(cleaned, attempts),
            "dedup_acceptance_rate": rate(accepted, cleaned),
            "tokens": bait.get("tokens", 0),
        },
        "vote": {
            "questions": labels.get("questions", 0),
            "kept": labels.get("kept", 0),
            "dropped": store.counters(counting.LABELS_DROPPED),
            "votes_per_question": config.votes,
            "adaptive": config.adaptive_votes,
            "votes_drawn": votes.get("drawn", 0),
            "votes_saved": max(0, config.votes * labels.get("questions", 0) - labels.get("votes_used", 0)),
            "votes_unfinished": votes.get("unfinished", 0),
            "label_policy": store.get_meta("label_policy"),
            "extraction_rate": rate(votes.get("extracted", 0), votes.get("drawn", 0)),
            "consensus_histogram": {
                f"{b / counting.HISTOGRAM_BINS:.1f}-{(b + 1) / counting.HISTOGRAM_BINS:.1f}": bins.get(
                    str(b), 0
                )
                for b in range(counting.HISTOGRAM_BINS)
            },
            "mean_consensus": round(labels.get("consensus_sum", 0) / with_answer, 4) if with_answer else 0.0,
            "tokens": votes.get("tokens", 0),
        },
        "tokens_generated": tokens,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 2) if wall else 0.0,
        "sessions": sessions,
        "config": config.model_dump(mode="json"),
    }
    verdicts = store.counters(self_check.STEP)
    if verdicts:
        stats["self_check"] = verdicts  # asked, yes, no, unclear; the drops are vote.dropped.self_check
    if usage is not None:
        stats["backend_usage_this_session"] = usage.as_dict()
    return stats
