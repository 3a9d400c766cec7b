"""The report of an ``improve`` run: accuracy per round with CIs, consensus, loss, sample data.

Built from ``rounds.json`` and the rounds' folders, so ``improve`` writes it at the end and
``crescent report`` rebuilds it from the folder alone (the options come from ``improve_config.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crescent.reports import svg
from crescent.reports.html import Raw, figure, page, section, table, text
from crescent.runs import model_label, read_json, read_jsonl
from crescent.train.rounds import CONFIG_FILE

SAMPLE_ROWS = 5


def _charts(rounds: list[dict[str, Any]]) -> list[str]:
    charts = [
        figure(
            svg.interval_chart(
                [
                    (f"round {r['round']}", r["eval"]["accuracy"], r["eval"]["ci95"][0], r["eval"]["ci95"][1])
                    for r in rounds
                ],
                title="Accuracy per round (95% Wilson CI)",
            ),
            "Accuracy per round",
        )
    ]
    with_data = [r for r in rounds if "data" in r]
    if with_data:
        series = {
            f"round {r['round']}": [
                (i / 10, n) for i, n in enumerate(r["data"]["consensus_histogram"].values())
            ]
            for r in with_data
        }
        chart = svg.line_chart(
            series, title="Consensus histogram", x_label="consensus bin (lower edge)", y_label="questions"
        )
        charts.append(figure(chart, "Consensus histogram"))
    with_train = [r for r in rounds if r.get("train", {}).get("loss_curve")]
    if with_train:
        series = {
            f"round {r['round']}": [(p["step"], p["loss"]) for p in r["train"]["loss_curve"]]
            for r in with_train
        }
        charts.append(
            figure(svg.line_chart(series, title="Loss curve", x_label="step", y_label="loss"), "Loss curve")
        )
    return charts


def _table(rounds: list[dict[str, Any]]) -> str:
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
        vs = r.get("vs_round_0")
        delta = (
            f"{vs['difference']:+.3f} [{vs['difference_ci95'][0]:+.3f}, {vs['difference_ci95'][1]:+.3f}]"
            if vs
            else "—"
        )
        body.append(
            (
                r["round"],
                f"{r['eval']['accuracy']:.3f}",
                f"[{r['eval']['ci95'][0]:.3f}, {r['eval']['ci95'][1]:.3f}]",
                r["eval"]["n"],
                f"{r['teacher']} → {r['student']}" if "teacher" in r else "—",
                r.get("data", {}).get("rows", "—"),
                r.get("train", {}).get("final_loss", "—"),
                delta,
                vs["mcnemar_p"] if vs else "—",
            )
        )
    return table(head, body)


def _share(n: int, total: int) -> str:
    return f"{n} ({n / total:.0%})" if total else str(n)


def _depth(rounds: list[dict[str, Any]]) -> str:
    """Accuracy per depth bucket and round (with the paired change vs round 0), and the benchmark's
    depth profile next to each round's training data: a round that gains on shallow items and loses
    on deep ones, or data much shallower than the benchmark, shows here."""
    evals = [r for r in rounds if r["eval"].get("by_depth")]
    if not evals:
        return Raw("<p class='muted'>Not recorded (rounds.json from a crescent without depth).</p>")
    buckets = [row["depth"] for row in evals[0]["eval"]["by_depth"]]
    head = ["steps"]
    columns: list[dict[str, str]] = []
    for r in evals:
        head.append(f"round {r['round']}")
        cells = {
            row["depth"]: f"{row['accuracy']:.1%} (n={row['n']})" if row["n"] else "—"
            for row in r["eval"]["by_depth"]
        }
        columns.append(cells)
        paired = (r.get("vs_round_0") or {}).get("by_depth")
        if paired:
            head.append(f"round {r['round']} − round 0 [95% CI], p")
            columns.append(
                {
                    row["depth"]: f"{row['difference']:+.1%} [{row['difference_ci95'][0]:+.1%}, "
                    f"{row['difference_ci95'][1]:+.1%}], p={row['mcnemar_p']:.3g}"
                    + (" WORSE" if row["worse"] else "")
                    for row in paired
                }
            )
    accuracy = table(head, [[b, *(c.get(b, "—") for c in columns)] for b in buckets])
    series = {
        f"round {r['round']}": [
            (float(i + 1), row["accuracy"])
            for i, row in enumerate(r["eval"]["by_depth"][: len(buckets) - 1])  # 'unknown' has no place
            if row["n"]
        ]
        for r in evals
    }
    chart = svg.line_chart(
        series, title="Accuracy by calculation steps", x_label="steps (5 = 5 or more)", y_label="accuracy"
    )
    benchmark = {row["depth"]: row["n"] for row in evals[0]["eval"]["by_depth"]}
    data = [r for r in rounds if (r.get("data") or {}).get("depth_histogram")]
    profile_head = ["steps", "benchmark items", *(f"round {r['round']} data rows" for r in data)]
    total = sum(benchmark.values())
    profile = table(
        profile_head,
        [
            [
                b,
                _share(benchmark.get(b, 0), total),
                *(
                    _share(r["data"]["depth_histogram"].get(b, 0), sum(r["data"]["depth_histogram"].values()))
                    for r in data
                ),
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


def _samples(run_dir: Path, rounds: list[dict[str, Any]]) -> str:
    parts = []
    for r in rounds:
        data = run_dir / f"round-{r['round']}" / "data" / "data.jsonl"
        if not data.exists():
            continue
        rows = read_jsonl(data)[:SAMPLE_ROWS]
        items = "".join(
            f"<li><p><b>Q:</b> {text(row['question'])}</p><pre>{text(row['solution'])}</pre>"
            f"<p>answer {text(row['answer'])}, consensus {text(row['consensus'])}</p></li>"
            for row in rows
        )
        parts.append(f"<h3>Round {r['round']}: first {len(rows)} generated rows</h3><ol>{items}</ol>")
    return Raw("".join(parts))


def render_rounds(run_dir: Path, rounds: list[dict[str, Any]], options: dict[str, Any]) -> str:
    """``options`` is the improve config as JSON (missing keys show as '?')."""
    generate, evaluate = options.get("generate", {}), options.get("eval", {})
    model = model_label({"model": options.get("model")})
    who = (
        f"teacher (writes the data): {text(model)}; student (trained on it): "
        f"{text(model_label({'model': options['student']}))}"
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
    return render_rounds(run_dir, read_json(run_dir / "rounds.json"), options)
