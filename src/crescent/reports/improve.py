"""The report of an ``improve`` run: accuracy per round with CIs, consensus, loss, sample data.

Built from ``rounds.json`` and the rounds' folders, so ``improve`` writes it at the end and
``crescent report`` rebuilds it from the folder alone (the options come from ``improve_config.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crescent.pipeline.sources import read_jsonl
from crescent.reports import svg
from crescent.reports.html import Raw, figure, page, section, table, text
from crescent.results.base import ConfigEcho, read_json
from crescent.results.generate import GenerateStats
from crescent.results.improve import Round, Rounds
from crescent.runs import model_label
from crescent.train.rounds import CONFIG_FILE

SAMPLE_ROWS = 5


def _charts(rounds: list[Round]) -> list[str]:
    charts = [
        figure(
            svg.interval_chart(
                [(f"round {r.round}", r.eval.accuracy, r.eval.ci95[0], r.eval.ci95[1]) for r in rounds],
                title="Accuracy per round (95% Wilson CI)",
            ),
            "Accuracy per round",
        )
    ]
    with_data = [(r, r.data) for r in rounds if r.data is not None]
    if with_data:
        series = {
            f"round {r.round}": [(i / 10, n) for i, n in enumerate(data.consensus_histogram.values())]
            for r, data in with_data
        }
        chart = svg.line_chart(
            series, title="Consensus histogram", x_label="consensus bin (lower edge)", y_label="questions"
        )
        charts.append(figure(chart, "Consensus histogram"))
    with_train = [(r, r.train.loss_curve) for r in rounds if r.train is not None and r.train.loss_curve]
    if with_train:
        series = {f"round {r.round}": [(p.step, p.loss) for p in curve] for r, curve in with_train}
        charts.append(
            figure(svg.line_chart(series, title="Loss curve", x_label="step", y_label="loss"), "Loss curve")
        )
    return charts


def _table(rounds: list[Round]) -> str:
    head = [
        "round",
        "accuracy",
        "95% CI",
        "n",
        "teacher → student",
        "kept rows",
        "final loss",
        "Δ vs round 0 [95% CI]",
        "McNemar p",
    ]
    body = []
    for r in rounds:
        vs = r.vs_round_0
        delta = (
            f"{vs.difference:+.3f} [{vs.difference_ci95[0]:+.3f}, {vs.difference_ci95[1]:+.3f}]"
            if vs
            else "—"
        )
        body.append(
            (
                r.round,
                f"{r.eval.accuracy:.3f}",
                f"[{r.eval.ci95[0]:.3f}, {r.eval.ci95[1]:.3f}]",
                r.eval.n,
                f"{r.teacher} → {r.student}" if r.teacher is not None else "—",
                r.data.rows if r.data is not None else "—",
                r.train.final_loss if r.train is not None else "—",
                delta,
                vs.mcnemar_p if vs else "—",
            )
        )
    return table(head, body)


def _share(n: int, total: int) -> str:
    return f"{n} ({n / total:.0%})" if total else str(n)


def _depth(rounds: list[Round]) -> str:
    """Accuracy per depth bucket and round (with the paired change vs round 0), and the benchmark's
    depth profile next to each round's training data: a round that gains on shallow items and loses
    on deep ones, or data much shallower than the benchmark, shows here."""
    evals = [(r, r.eval.by_depth) for r in rounds if r.eval.by_depth]
    if not evals:
        return Raw(f"<p class='muted'>Not recorded ({Rounds.FILE} from a crescent without depth).</p>")
    first = evals[0][1]
    buckets = [row.depth for row in first]
    head = ["steps"]
    columns: list[dict[Any, str]] = []
    for r, by_depth in evals:
        head.append(f"round {r.round}")
        cells = {row.depth: f"{row.accuracy:.1%} (n={row.n})" if row.n else "—" for row in by_depth}
        columns.append(cells)
        paired = r.vs_round_0.by_depth if r.vs_round_0 is not None else None
        if paired:
            head.append(f"round {r.round} − round 0 [95% CI], p")
            columns.append(
                {
                    row.depth: f"{row.difference:+.1%} [{row.difference_ci95[0]:+.1%}, "
                    f"{row.difference_ci95[1]:+.1%}], p={row.mcnemar_p:.3g}" + (" WORSE" if row.worse else "")
                    for row in paired
                    if row.difference is not None and row.difference_ci95 is not None
                }
            )
    accuracy = table(head, [[b, *(c.get(b, "—") for c in columns)] for b in buckets])
    series = {
        f"round {r.round}": [
            (float(i + 1), row.accuracy)
            for i, row in enumerate(by_depth[: len(buckets) - 1])  # 'unknown' has no place
            if row.n
        ]
        for r, by_depth in evals
    }
    chart = svg.line_chart(
        series, title="Accuracy by calculation steps", x_label="steps (5 = 5 or more)", y_label="accuracy"
    )
    benchmark = {row.depth: row.n for row in first}
    data = [(r, r.data.depth_histogram) for r in rounds if r.data is not None and r.data.depth_histogram]
    profile_head = ["steps", "benchmark items", *(f"round {r.round} data rows" for r, _ in data)]
    total = sum(benchmark.values())
    profile = table(
        profile_head,
        [
            [
                b,
                _share(benchmark.get(b, 0), total),
                *(_share(histogram.get(str(b), 0), sum(histogram.values())) for _, histogram in data),
            ]
            for b in buckets
        ],
    )
    return Raw(
        accuracy
        + figure(chart, "accuracy per depth bucket, one line per round")
        + "<h3>Depth profile: benchmark vs training data</h3>"
        + profile
    )


def _samples(run_dir: Path, rounds: list[Round]) -> str:
    parts = []
    for r in rounds:
        data = run_dir / f"round-{r.round}" / "data" / GenerateStats.ROWS
        if not data.exists():
            continue
        rows = [row for _, row in read_jsonl(data)][:SAMPLE_ROWS]
        items = "".join(
            f"<li><p><b>Q:</b> {text(row['question'])}</p><pre>{text(row['solution'])}</pre>"
            f"<p>answer {text(row['answer'])}, consensus {text(row['consensus'])}</p></li>"
            for row in rows
        )
        parts.append(f"<h3>Round {r.round}: first {len(rows)} generated rows</h3><ol>{items}</ol>")
    return Raw("".join(parts))


def render_rounds(run_dir: Path, rounds: list[Round], options: dict[str, Any]) -> str:
    """``options`` is the improve config as JSON (missing keys show as '?')."""
    generate, evaluate = options.get("generate", {}), options.get("eval", {})
    model = model_label(ConfigEcho(model=options.get("model")))
    who = (
        f"teacher (writes the data): {text(model)}; student (trained on it): "
        f"{text(model_label(ConfigEcho(model=options['student'])))}"
        if options.get("student")
        else f"model (teaches itself): {text(model)}"
    )
    about = Raw(
        f"<p>{who}; rounds: {text(options.get('rounds', '?'))}; "
        f"questions/round: {text(generate.get('questions', '?'))}; "
        f"votes: {text(generate.get('votes', '?'))}; "
        f"eval: {text(evaluate.get('data', '?'))} (limit {text(evaluate.get('limit'))}, "
        f"{text(evaluate.get('shots', 0))}-shot)</p>"
    )
    return page(
        "crescent improve",
        about,
        _table(rounds),
        *_charts(rounds),
        section("Accuracy by reasoning depth", _depth(rounds)),
        section("Sample data (model text, escaped)", _samples(run_dir, rounds)),
    )


def render(run_dir: Path) -> str:
    config = run_dir / CONFIG_FILE
    options = read_json(config) if config.is_file() else {}
    return render_rounds(run_dir, Rounds.from_dir(run_dir).root, options)
