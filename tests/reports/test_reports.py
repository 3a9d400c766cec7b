"""``crescent report``: one self-contained page per run kind, model text escaped, the run's numbers shown."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixture_runs import SCRIPT, eval_run, generate_run
from typer.testing import CliRunner

from crescent.cli import app
from crescent.depth import BUCKETS
from crescent.errors import CrescentError
from crescent.reports import write_run_report
from crescent.reports.svg import bar_chart, histogram
from crescent.runs import run_kind


class Page(HTMLParser):
    """Collects tags, external references and text; fails on nothing (html.parser is lenient), so the
    checks below are on what it found."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href"} and value and not value.startswith("#"):
                self.external.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text())
    page.close()
    assert "html" in page.tags and "body" in page.tags
    assert page.external == []  # no network: nothing is loaded from anywhere
    return page


def test_generate_report_shows_funnel_rejections_similarity_and_escapes(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run")
    kind, path = write_run_report(run)
    assert kind == "generate" and path == run / "report.html"
    page = parse(path)
    assert "script" not in page.tags and "img" not in page.tags
    text = "".join(page.text)
    assert SCRIPT in text  # shown as text, not run
    stats = json.loads((run / "stats.json").read_text())
    assert page.tags.count("svg") >= 4  # funnel, rejections, similarity, consensus (+ throughput)
    funnel = re.findall(
        r"<tr><td>(bait samples|cleaned|accepted|voted|kept)</td><td class=\"num\">(\d+)", path.read_text()
    )
    assert dict(funnel) == {
        "bait samples": str(stats["bait"]["attempts"]),
        "cleaned": str(stats["bait"]["cleaned"]),
        "accepted": str(stats["bait"]["accepted"]),
        "voted": str(stats["vote"]["questions"]),
        "kept": str(stats["vote"]["kept"]),
    }
    for reason in stats["bait"]["rejected"]:
        assert reason in text
    assert f"threshold {stats['config']['dedup_threshold']:g}" in text


def test_generate_report_of_a_file_source_says_where_the_questions_came_from(tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        "".join(
            json.dumps({"question": f"Ben has {i} cups and gets {i} more. How many?"}) + "\n"
            for i in range(3)
        )
    )
    run = generate_run(tmp_path / "run", poison=False, questions=5, questions_from=seed)
    _, path = write_run_report(run)
    text = "".join(parse(path).text)
    assert "questions: 3 from seed.jsonl, the whole file of 3 rows (seed augmentation)" in text
    assert "file rows read" in text and "bait samples" not in text and "stopped: file_exhausted" in text


def test_eval_report_has_accuracy_ci_and_a_wrong_items_filter(tmp_path: Path) -> None:
    run = eval_run(tmp_path)
    _, path = write_run_report(run, tmp_path / "elsewhere" / "eval.html")
    page = parse(path)
    assert "script" not in page.tags
    results = json.loads((run / "results.json").read_text())
    document = path.read_text()
    text = "".join(page.text)
    low, high = results["ci95"]
    assert f"{results['accuracy']:.2%}" in text and f"[{low:.2%}, {high:.2%}]" in text
    assert document.count("<details class='wrong'>") == results["n"] - results["correct"] == 2
    assert document.count("<details class='right'>") == results["correct"]
    assert "id='only-wrong'" in document and "#only-wrong:checked ~ #items details.right" in document
    assert SCRIPT in text
    # Accuracy by depth: a chart of the filled buckets and a table of all six (fixture: 1 step 2/2 right,
    # 2 steps 0/2, no solution 2/2).
    assert "Accuracy by calculation steps (95% Wilson CI)" in text
    assert [r["n"] for r in results["by_depth"]] == [2, 2, 0, 0, 0, 2]
    for depth, accuracy in (("1", "100.00%"), ("2", "0.00%"), ("3", "—"), ("unknown", "100.00%")):
        row = rf"<td>{re.escape(depth)}</td><td class=\"num\">\d+</td><td>{accuracy}</td>"
        assert re.search(row, document), depth


def test_audit_report_reuses_the_audit_plot(tmp_path: Path) -> None:
    from crescent.config import AuditConfig
    from crescent.eval.audit import audit

    data = tmp_path / "gold.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "question": f"Ava has {i} coins and buys {i + 2} more. How many now?",
                    "answer": str(2 * i + 2),
                }
            )
            + "\n"
            for i in range(1, 7)
        )
    )
    run = tmp_path / "audit"
    audit(AuditConfig(data=data, out=run, backend="fake", votes=3, quiet=True))
    kind, path = write_run_report(run)
    assert kind == "audit"
    page = parse(path)
    assert "polyline" in page.tags and "Precision against coverage" in "".join(page.text)


def test_improve_report_from_rounds_json_is_svg_only(tmp_path: Path) -> None:
    run = tmp_path / "improve"
    generate_run(run / "round-1" / "data")
    hist = {"0.0-0.1": 0, "0.5-0.6": 2, "0.9-1.0": 3}
    rounds = [
        {"round": 0, "eval": {"accuracy": 0.25, "n": 8, "ci95": [0.07, 0.59]}},
        {
            "round": 1,
            "eval": {"accuracy": 0.5, "n": 8, "ci95": [0.22, 0.78]},
            "data": {"rows": 5, "consensus_histogram": hist},
            "train": {"final_loss": 0.4, "loss_curve": [{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.4}]},
            "vs_round_0": {"n": 8, "difference": 0.25, "difference_ci95": [-0.1, 0.6], "mcnemar_p": 0.5},
            "teacher": "big.gguf",
            "student": "small.gguf",
        },
    ]
    (run / "rounds.json").write_text(json.dumps(rounds))
    options = {"rounds": 1, "model": "big.gguf", "student": "small.gguf", "generate": {"votes": 3}}
    (run / "improve_config.json").write_text(json.dumps(options))
    assert run_kind(run) == "improve"
    _, path = write_run_report(run)
    page = parse(path)
    assert page.tags.count("svg") == 3 and "img" not in page.tags and "script" not in page.tags
    text = "".join(page.text)
    assert "+0.250 [-0.100, +0.600]" in text and "Round 1: first 5 generated rows" in text
    assert "Accuracy by reasoning depth" in text and "Not recorded" in text  # rounds.json without depth
    assert "teacher (writes the data): big.gguf; student (trained on it): small.gguf" in text
    assert "big.gguf → small.gguf" in text


def test_improve_report_shows_depth_per_round_and_the_data_profile(tmp_path: Path) -> None:
    run = tmp_path / "improve"
    run.mkdir()

    def by_depth(one: tuple[int, int], two: tuple[int, int]) -> list[dict]:
        rows = [{"depth": d, "n": 0, "correct": 0, "accuracy": None, "ci95": None} for d in BUCKETS]
        for row, (right, n) in zip(rows, (one, two), strict=False):
            row.update(n=n, correct=right, accuracy=right / n, ci95=[0.0, 1.0])
        return rows

    def paired(depth: str, n: int, difference: float, ci: list[float], p: float) -> dict:
        worse = ci[1] < 0
        return {
            "depth": depth,
            "n": n,
            "difference": difference,
            "difference_ci95": ci,
            "mcnemar_p": p,
            "worse": worse,
        }

    vs_round_0 = {"n": 40, "difference": 0.0, "difference_ci95": [-0.1, 0.1], "mcnemar_p": 1.0}
    vs_round_0["by_depth"] = [
        paired("1", 10, 0.3, [0.1, 0.5], 0.03),
        paired("2", 30, -0.2, [-0.3, -0.1], 0.008),
    ]
    vs_round_0["worse_depths"] = ["2"]
    data = {
        "rows": 8,
        "consensus_histogram": {},
        "depth_histogram": dict.fromkeys(BUCKETS, 0) | {"1": 6, "2": 2},
    }
    rounds = [
        {
            "round": 0,
            "eval": {"accuracy": 0.5, "n": 40, "ci95": [0.3, 0.6], "by_depth": by_depth((2, 10), (18, 30))},
        },
        {
            "round": 1,
            "eval": {"accuracy": 0.5, "n": 40, "ci95": [0.3, 0.6], "by_depth": by_depth((5, 10), (12, 30))},
            "data": data,
            "vs_round_0": vs_round_0,
        },
    ]
    (run / "rounds.json").write_text(json.dumps(rounds))
    _, path = write_run_report(run)
    document = path.read_text()
    assert "Accuracy by calculation steps" in document  # the per-round line chart
    assert (
        "<td>2</td><td>60.0% (n=30)</td><td>40.0% (n=30)</td><td>-20.0% [-30.0%, -10.0%], p=0.008 WORSE</td>"
        in document
    )
    assert "<td>1</td><td>10 (25%)</td><td>6 (75%)</td>" in document  # benchmark vs data profile


def test_svg_labels_are_escaped_and_the_threshold_is_marked() -> None:
    chart = bar_chart(["<b>x</b>"], [3], title="t<script>")
    assert "<b>" not in chart and "<script>" not in chart and "&lt;b&gt;" in chart
    marked = histogram([0.1, 0.8, 0.9], low=0.0, high=1.0, bins=10, title="sim", threshold=0.75)
    assert "threshold 0.75" in marked and marked.count("<rect") == 10


def test_cli_report_and_its_one_line_errors(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run", poison=False)
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").is_file() and result.output.strip().endswith("r.html")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CrescentError, match="holds no crescent run"):
        write_run_report(empty)
    with pytest.raises(CrescentError, match="run folder not found"):
        write_run_report(tmp_path / "missing")
    (run / "stats.json").unlink()
    with pytest.raises(CrescentError, match="unfinished generate run"):
        write_run_report(run)
