"""The report of a ``generate`` run: where questions were lost, how close duplicates were, how the votes went.

Counts come from ``stats.json`` (the steps' own counters); distributions and samples come from the run
store, read-only, because only it holds one row per candidate, session and outcome.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from crescent.pipeline.bait_tables import CandidateTable, QuestionTable
from crescent.pipeline.labels import FILTER_COLUMNS, filter_rows
from crescent.pipeline.vote_tables import OutcomeTable
from crescent.reports import svg
from crescent.reports.html import Raw, figure, page, section, table, text
from crescent.results.generate import Export, GenerateStats
from crescent.runs import model_label, read_store
from crescent.session import SessionTable
from crescent.store import STORE_NAME

SAMPLES = 10  # kept and dropped questions shown each


def funnel(stats: GenerateStats) -> list[tuple[str, int]]:
    """bait samples (or file rows) -> cleaned -> accepted -> voted -> kept, as recorded by the steps."""
    bait, vote = stats.bait, stats.vote
    return [
        ("file rows read" if stats.from_file else "bait samples", bait.attempts),
        ("cleaned", bait.cleaned),
        ("accepted", bait.accepted),
        ("voted", vote.questions),
        ("kept", vote.kept),
    ]


def rejections(stats: GenerateStats) -> list[tuple[str, str, int]]:
    """(step, reason, count), biggest first within each step."""
    step = "file" if stats.from_file else "bait/dedup"
    rows = [(step, r, n) for r, n in stats.bait.rejected.items()]
    rows += [("vote", r, n) for r, n in stats.vote.dropped.items()]
    return sorted(rows, key=lambda r: (r[0] == "vote", -r[2]))


def _store_rows(run_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    path = run_dir / STORE_NAME
    if not path.is_file():
        return {"similarity": [], "sessions": [], "outcomes": []}
    with read_store(run_dir) as db:
        outcomes = OutcomeTable(db).by_question()
        return {
            "similarity": CandidateTable(db).similarities(),
            "sessions": SessionTable(db).rows(),
            "outcomes": [
                (question, o.kept, o.reason, o.answer, o.consensus, o.counts)
                for qid, question in QuestionTable(db).first()
                if (o := outcomes.get(qid)) is not None
            ],
        }


def _similarity_figure(similarities: list[float], threshold: float) -> str:
    if not similarities:
        return Raw("<p class='muted'>No similarity was recorded (no candidate reached dedup).</p>")
    low = min(0.0, math.floor(min(similarities) * 10) / 10)
    chart = svg.histogram(
        similarities,
        low=low,
        high=1.0,
        bins=round((1.0 - low) * 20),
        title="Nearest accepted question: centered cosine",
        threshold=threshold,
    )
    return figure(chart, f"{len(similarities)} candidates; at or above the threshold = near duplicate")


def _depth(export: Export) -> str:
    """Kept rows by calculation steps, beside each ``--exclude`` benchmark's items counted the same way."""
    histogram = export.depth_histogram
    if histogram is None:
        return Raw(
            f"<p class='muted'>Not recorded ({GenerateStats.FILE} from a crescent without depth counts).</p>"
        )
    chart = svg.bar_chart(list(histogram), list(histogram.values()), title="Kept rows by calculation steps")
    benchmarks = export.benchmark_depth_histograms or {}
    head = ["steps", "kept rows", *(f"{Path(name).name} items" for name in benchmarks)]
    rows = [[d, n, *(b[d] for b in benchmarks.values())] for d, n in histogram.items()]
    return Raw(
        figure(
            chart,
            "valid equations in each row's winning solution ('unknown': none parsed); data much shallower "
            "than the benchmark can teach a one-step shortcut",
        )
        + table(head, rows)
    )


def _samples(outcomes: list[tuple[Any, ...]]) -> str:
    kept = [o for o in outcomes if o[1]][:SAMPLES]
    dropped = [o for o in outcomes if not o[1]][:SAMPLES]
    head = ["question", "kept", "reason", "answer", "consensus", "votes"]
    rows = [
        (q, "yes" if k else "no", reason or "", answer, round(consensus, 3), _votes(counts))
        for q, k, reason, answer, consensus, counts in kept + dropped
    ]
    return table(head, rows)


def _votes(counts: dict[str, int]) -> str:
    return ", ".join(f"{answer}: {n}" for answer, n in counts.items()) or "—"


def render(run_dir: Path) -> str:
    stats = GenerateStats.from_dir(run_dir)
    config = stats.config
    rows = _store_rows(run_dir)
    steps = funnel(stats)
    reasons = rejections(stats)
    histogram = stats.vote.consensus_histogram
    sessions = [(sid, wall, tokens) for sid, wall, tokens in rows["sessions"] if wall > 0]
    speed = svg.bar_chart(
        [f"session {sid}" for sid, _, _ in sessions],
        [round(tokens / wall, 2) for _, wall, tokens in sessions],
        title="Tokens per second, per session (invocation)",
        y_label="tokens/s",
    )
    summary = table(
        ["model", "backend", "questions wanted", "votes", "rows kept", "tokens", "wall s", "tokens/s"],
        [
            (
                model_label(config),
                config.backend or "?",
                config.questions or "?",
                config.votes or "?",
                stats.vote.kept,
                stats.tokens_generated,
                stats.wall_s,
                stats.tokens_per_s,
            )
        ],
    )
    return page(
        f"crescent generate: {run_dir.name}",
        summary,
        Raw(
            f"<p>{text(stats.questions_source())}; stopped: {text(stats.stop_reason)}; "
            f"sessions: {text(stats.sessions)}</p>"
        ),
        section(
            "Funnel",
            figure(svg.bar_chart([s for s, _ in steps], [n for _, n in steps], title="Funnel"), "funnel"),
            table(["step", "count"], steps),
        ),
        section(
            "Rejections",
            figure(
                svg.bar_chart(
                    [r for _, r, _ in reasons],
                    [n for _, _, n in reasons],
                    title="Rejection reasons",
                    color=svg.RED,
                ),
                "why candidates and questions were dropped",
            )
            if reasons
            else "",
            table(["step", "reason", "count"], reasons),
        ),
        section(
            "Label filters",
            table(FILTER_COLUMNS, filter_rows(stats.vote.label_policy or {}, stats.vote.dropped)),
        ),
        section(
            "Self-deduplication",
            _similarity_figure(
                [s for s, _ in rows["similarity"]],
                config.dedup_threshold if config.dedup_threshold is not None else 0.75,
            ),
        ),
        section(
            "Consensus",
            figure(
                svg.bar_chart(list(histogram), list(histogram.values()), title="Winning share of votes"),
                f"questions with an answer; mean consensus {stats.vote.mean_consensus}",
            ),
        ),
        section("Reasoning depth of the kept rows", _depth(stats.export)),
        section("Throughput", figure(speed, "from the run store's sessions table") if sessions else ""),
        section("Sample questions (model text, escaped)", _samples(rows["outcomes"])),
    )
