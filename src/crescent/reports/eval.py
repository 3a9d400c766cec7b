"""The report of an ``eval`` run: accuracy with its interval, and every item to browse (wrong ones first
to hand, through a CSS-only filter: no script, no external asset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crescent.eval.summary import depth_rows, score_cells, score_columns
from crescent.pipeline.sources import read_jsonl
from crescent.reports import svg
from crescent.reports.html import Raw, figure, page, section, table, text
from crescent.results.eval import DepthAccuracy, EvalResults
from crescent.runs import model_label

MAX_ITEMS = 2000  # items in the browser; a bigger eval shows its first ones (the files hold them all)

FILTER_STYLE = (
    "<style>#only-wrong:checked ~ #items details.right{display:none}#items summary{cursor:pointer}</style>"
)


def _item(row: dict[str, Any]) -> str:
    verdict = "right" if row["correct"] else "wrong"
    outputs = "".join(
        f"<p class='muted'>output {i + 1} (answer: {text(answer)}, finish: {text(finish)})</p>"
        f"<pre>{text(output)}</pre>"
        for i, (output, answer, finish) in enumerate(
            zip(
                row.get("outputs", []),
                row.get("answers", []),
                row.get("finish_reasons", [None] * len(row.get("outputs", []))),
                strict=False,
            )
        )
    )
    return (
        f"<details class='{verdict}'><summary>{text(row['id'], 80)} — {verdict}: predicted "
        f"{text(row.get('prediction'), 80)}, gold {text(row.get('gold'), 80)}</summary>"
        f"<p><b>Question:</b> {text(row['question'])}</p>{outputs}"
        f"<p>votes: {text(row.get('votes'))}; consensus {text(row.get('consensus'))}</p></details>"
    )


def browser(rows: list[dict[str, Any]]) -> str:
    wrong = sum(1 for r in rows if not r["correct"])
    shown = rows[:MAX_ITEMS]
    note = f" (first {MAX_ITEMS} of {len(rows)})" if len(rows) > MAX_ITEMS else ""
    return Raw(
        FILTER_STYLE
        + f"<input type='checkbox' id='only-wrong'><label for='only-wrong'> only wrong items ({wrong})"
        f"</label><p class='muted'>{len(shown)} items{note}</p>"
        f"<div id='items'>{''.join(_item(r) for r in shown)}</div>"
    )


def depth_section(by_depth: list[DepthAccuracy] | None) -> str:
    """Accuracy per reasoning-depth bucket with its interval, and how many benchmark items each holds
    (the benchmark's depth profile, to set against the training data's)."""
    if not by_depth:
        return Raw(
            "<p class='muted'>Not recorded: run <code>crescent eval rescore</code> on this folder.</p>"
        )
    filled = [(r, r.ci95) for r in by_depth if r.n and r.ci95]
    chart = svg.interval_chart(
        [(r.depth, r.accuracy, ci95[0], ci95[1]) for r, ci95 in filled],
        title="Accuracy by calculation steps (95% Wilson CI)",
    )
    return Raw(
        figure(chart, "steps = calculation annotations (GSM8K) or valid equations of the reference solution")
        + table(["steps", "items", "accuracy", "95% CI"], depth_rows(by_depth))
    )


def render(run_dir: Path) -> str:
    results = EvalResults.from_dir(run_dir)
    rows = [row for _, row in read_jsonl(run_dir / EvalResults.ROWS)]
    config = results.config
    low, high = results.ci95
    metric = results.metric  # humaneval: pass@1
    chart = svg.interval_chart([(metric, results.accuracy, low, high)], title=f"{metric} (95% Wilson CI)")
    summary = table(
        ["model", "data", *score_columns(metric)],
        [(model_label(config), config.data or "?", *score_cells(results))],
    )
    speed = table(
        ["tokens", "wall s", "tokens/s", "truncated outputs"],
        [(results.tokens, results.wall_s, results.tokens_per_s, _or_dash(results.truncated_rate))],
    )
    return page(
        f"crescent eval: {run_dir.name}",
        summary,
        figure(chart, f"{metric} with its Wilson 95% interval"),
        section("Accuracy by reasoning depth", depth_section(results.by_depth)),
        speed,
        section("Items (model text, escaped)", browser(rows)),
    )


def _or_dash(value: Any) -> Any:
    return "—" if value is None else value
