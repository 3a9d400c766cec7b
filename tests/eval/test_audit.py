"""``crescent audit`` on the fake backend: figures that follow from the votes, resume, and the report."""

from __future__ import annotations

import json
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

from crescent.config import AuditConfig
from crescent.eval.audit import audit


def _bench(path: Path, n: int = 24) -> Path:
    """Sum questions the fake backend solves: its votes are right with probability ``accuracy``."""
    rows = [
        {
            "id": f"b{i}",
            "question": f"Ava has {i} apples and gets {i + 3} more. How many apples?",
            "answer": 2 * i + 3,
        }
        for i in range(1, n + 1)
    ]
    rows[0]["question"] += " <script>alert(1)</script>"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tmp_path: Path, **overrides) -> AuditConfig:
    values = dict(
        out=tmp_path / "audit",
        data=_bench(tmp_path / "bench.jsonl"),
        backend="fake",
        model="accuracy=0.7",
        votes=4,
        quiet=True,
        batch_size=8,
    )
    values.update(overrides)
    return AuditConfig(**values)


def test_audit_reports_precision_and_coverage(tmp_path: Path) -> None:
    result = audit(_config(tmp_path, greedy=True))
    report = json.loads(result.audit_path.read_text())
    assert report["n"] == 24 and report["votes_drawn"] == 96
    assert 0.0 < report["first_vote_accuracy"] <= 1.0 and "greedy_accuracy" in report
    thresholds = report["by_threshold"]
    assert [t["min_consensus"] for t in thresholds] == sorted(t["min_consensus"] for t in thresholds)
    coverages = [t["coverage"] for t in thresholds]
    assert coverages == sorted(coverages, reverse=True)  # a stricter threshold never keeps more
    default = report["default"]
    assert 0 < default["kept"] <= 24 and default["precision"] == round(
        default["correct"] / default["kept"], 4
    )
    assert set(report["by_filter"]) == {
        "drop_unfinished_votes",
        "drop_ties",
        "min_valid_votes",
        "max_consensus",
        "arithmetic_check",
        "shortcut_filter",
        "self_check",
    }
    replay = report["adaptive_replay"]
    assert replay["votes_drawn"] < replay["votes_fixed"] == 96 and replay["votes_saved"] > 0
    assert report["plain_majority"]["coverage"] >= default["coverage"]


def test_audit_resumes_without_sampling_again(tmp_path: Path, monkeypatch) -> None:
    config = _config(tmp_path)
    first = audit(config)
    from crescent.backends.fake import FakeBackend

    monkeypatch.setattr(
        FakeBackend, "sample", lambda *a, **k: (_ for _ in ()).throw(AssertionError("resampled"))
    )
    again = audit(_config(tmp_path, min_consensus=0.75))  # a label option: relabelled from stored votes
    assert again.audit.votes_drawn == first.audit.votes_drawn
    assert again.audit.default.kept <= first.audit.default.kept
    db = sqlite3.connect(config.out / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 96


def test_audit_report_parses_and_escapes_model_text(tmp_path: Path) -> None:
    result = audit(_config(tmp_path))
    page = result.report_path.read_text()
    assert "<script>" not in page and "<svg" in page and "<polyline" in page

    class Counter(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

    parser = Counter()
    parser.feed(page)
    assert parser.tags.count("table") == 4  # summary, thresholds, votes, filters
    assert str(result.audit.default.precision) in page


def test_by_votes_is_exactly_what_an_audit_with_fewer_votes_measures(tmp_path: Path) -> None:
    four = audit(_config(tmp_path)).audit.as_json()
    assert [row["votes"] for row in four["by_votes"]] == [1, 2, 3, 4]
    two = audit(_config(tmp_path, out=tmp_path / "two", votes=2)).audit.as_json()
    row = four["by_votes"][1]
    assert {k: row[k] for k in two["default"]} == two["default"]
    assert {k: four["by_votes"][3][k] for k in four["default"]} == four["default"]
    assert row["tie_rate"] > 0  # two votes split 1-1 often at accuracy 0.7


def test_raising_votes_tops_an_audit_up_to_a_fresh_one(tmp_path: Path) -> None:
    audit(_config(tmp_path, votes=2))
    topped = audit(_config(tmp_path, votes=4)).audit.as_json()
    fresh = audit(_config(tmp_path, out=tmp_path / "fresh", votes=4)).audit.as_json()
    for key in ("n", "votes_drawn", "default", "plain_majority", "by_votes", "by_filter", "adaptive_replay"):
        assert topped[key] == fresh[key]
    lowered = audit(_config(tmp_path, votes=2)).audit.as_json()  # a prefix of the stored votes: nothing drawn
    assert lowered["votes_drawn"] == 2 * lowered["n"] and len(lowered["by_votes"]) == 2


def test_a_question_longer_than_the_context_is_dropped_with_its_reason(tmp_path: Path) -> None:
    """Voting (generate, audit) skips the one question whose prompt does not fit, not the whole batch."""
    data = _bench(tmp_path / "long.jsonl", n=6)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows[3]["question"] = "How many apples? " + "apple " * 3000
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = audit(_config(tmp_path, data=data))
    assert result.audit.n == 5  # scored without it
    with sqlite3.connect(tmp_path / "audit" / "run.sqlite") as db:
        reasons = dict(db.execute("SELECT question_id, reason FROM outcomes WHERE kept = 0"))
    assert reasons["b4"] == "prompt_too_long"


def test_audit_measures_the_self_check_like_the_other_filters(tmp_path: Path) -> None:
    off = audit(_config(tmp_path)).audit.as_json()
    assert off["by_filter"]["self_check"]["removed"] == 0 and "self_check" not in off
    on = audit(
        _config(tmp_path, self_check=True)
    ).audit.as_json()  # same votes: only the verdicts are sampled
    assert on["votes_drawn"] == off["votes_drawn"]
    assert on["self_check"]["asked"] == 24 and on["self_check"]["no"] > 0
    removed = on["by_filter"]["self_check"]["removed"]
    assert removed > 0 and on["default"]["kept"] == off["default"]["kept"] - removed
    assert on["by_filter"]["self_check"]["precision_without"] == off["default"]["precision"]
