"""The typed run summaries (``crescent.results``): each reads any summary crescent wrote and writes back
the very same bytes, and the summary file names live in one place."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fixture_runs import eval_run, generate_run

from crescent.config import AuditConfig, ContaminationConfig
from crescent.errors import CrescentError
from crescent.eval.audit import audit
from crescent.eval.compare import compare_runs
from crescent.eval.contamination import check_contamination
from crescent.results.audit import AuditSummary
from crescent.results.base import SummaryFile
from crescent.results.compare import Comparison
from crescent.results.contamination import ContaminationSummary
from crescent.results.eval import EvalResults
from crescent.results.generate import GenerateStats
from crescent.results.improve import Round, RoundComparison, RoundData, RoundEval, Rounds
from crescent.results.train import TrainStats
from crescent.runs import RUN_KINDS, run_kind

ROOT = Path(__file__).resolve().parents[1]
SUMMARIES: list[type[SummaryFile]] = [
    GenerateStats,
    EvalResults,
    AuditSummary,
    Rounds,
    TrainStats,
    ContaminationSummary,
]
COMMITTED = sorted(
    (
        (summary, path)
        for summary in SUMMARIES
        for folder in ("experiments/results", "benchmarks/results")
        for path in (ROOT / folder).rglob(summary.FILE)
    ),
    key=lambda pair: str(pair[1]),
)


def _canonical(path: Path, ascii_only: bool) -> str:
    """How every crescent command has always written a summary: ``json.dumps(indent=2)`` and a newline."""
    return json.dumps(json.loads(path.read_text()), indent=2, ensure_ascii=ascii_only) + "\n"


def _round_trips(summary: type[SummaryFile], run_dir: Path) -> SummaryFile:
    path = summary.path(run_dir)
    written = path.read_bytes()
    result = summary.from_dir(run_dir)
    assert result.dumps().encode() == written
    result.to_dir(run_dir)
    assert path.read_bytes() == written
    return result


@pytest.mark.parametrize(("summary", "path"), COMMITTED, ids=[str(p.relative_to(ROOT)) for _, p in COMMITTED])
def test_every_committed_summary_reads_and_writes_back_byte_identical(
    summary: type[SummaryFile], path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / summary.FILE
    copy.write_bytes(path.read_bytes())
    _round_trips(summary, tmp_path)


def test_committed_results_cover_the_kinds_they_hold() -> None:
    kinds = {summary for summary, _ in COMMITTED}
    assert {GenerateStats, EvalResults, AuditSummary, TrainStats} <= kinds


def test_fake_generate_and_eval_runs_round_trip_and_keep_their_format(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "gen", poison=False)
    stats = _round_trips(GenerateStats, run)
    assert isinstance(stats, GenerateStats) and stats.bait.accepted == 8 and stats.export.rows > 0
    assert GenerateStats.path(run).read_text() == _canonical(GenerateStats.path(run), ascii_only=False)
    evaluated = eval_run(tmp_path)
    results = _round_trips(EvalResults, evaluated)
    assert isinstance(results, EvalResults) and (results.n, results.correct) == (6, 4)
    assert results.by_depth is not None and sum(r.n for r in results.by_depth) == 6
    assert EvalResults.path(evaluated).read_text() == _canonical(EvalResults.path(evaluated), False)


def test_fake_audit_round_trips(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        "".join(
            json.dumps({"id": f"b{i}", "question": f"{i} + {i + 3}?", "answer": 2 * i + 3}) + "\n"
            for i in range(6)
        )
    )
    config = AuditConfig(
        out=tmp_path / "audit", data=bench, backend="fake", model="accuracy=0.7", votes=3, quiet=True
    )
    result = audit(config)
    assert result.audit.n == 6 and result.audit.by_votes is not None  # fixed voting replays every --votes
    assert _round_trips(AuditSummary, config.out) == result.audit
    assert AuditSummary.path(config.out).read_text() == _canonical(AuditSummary.path(config.out), False)


def test_contamination_summary_round_trips(tmp_path: Path) -> None:
    question = "Ava has 3 apples and gets 5 more from her friend at the market today. How many apples?"
    data, bench = tmp_path / "data.jsonl", tmp_path / "bench.jsonl"
    data.write_text(json.dumps({"question": question}) + "\n")
    bench.write_text(json.dumps({"question": question + " Naïve café."}) + "\n")
    config = ContaminationConfig(
        data=data, against=[bench], out=tmp_path / "out", embeddings=False, quiet=True
    )
    result = check_contamination(config)
    assert result.summary.flagged["ngram"] == 1 and result.summary.embeddings is False
    _round_trips(ContaminationSummary, config.out)


def test_rounds_hold_what_the_driver_always_copied_from_its_steps(tmp_path: Path) -> None:
    """``improve`` builds each round from the results its steps return; the record must equal the one
    it built before, by reading the steps' files and copying these keys."""
    stats_run = generate_run(tmp_path / "gen", poison=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = eval_run(tmp_path / "a")
    after = eval_run(tmp_path / "b", wrong_gold=frozenset({1}))
    stats = json.loads(GenerateStats.path(stats_run).read_text())
    results = json.loads(EvalResults.path(after).read_text())
    paired = compare_runs(before, after)
    expected = [
        {
            "round": 1,
            "eval": {k: results.get(k) for k in RoundEval.KEYS},
            "data": {
                "source": GenerateStats.model_validate(stats).questions_source(),
                "rows": stats["export"]["rows"],
                "accepted": stats["bait"]["accepted"],
                "attempts": stats["bait"]["attempts"],
                "mean_consensus": stats["vote"]["mean_consensus"],
                "consensus_histogram": stats["vote"]["consensus_histogram"],
                "depth_histogram": stats["export"].get("depth_histogram"),
                "tokens_per_s": stats["tokens_per_s"],
            },
            "vs_round_0": {k: paired.get(k) for k in RoundComparison.KEYS},
            "teacher": "t",
            "student": "s",
        }
    ]
    record = {
        "round": 1,
        "eval": RoundEval.of(EvalResults.from_dir(after)),
        "data": RoundData.of(GenerateStats.from_dir(stats_run)),
        "vs_round_0": RoundComparison.of(Comparison.model_validate(paired)),
        "teacher": "t",
        "student": "s",
    }
    written = Rounds([Round.model_validate(record)]).to_dir(tmp_path)
    assert written.read_text() == json.dumps(expected, indent=2) + "\n"
    assert _round_trips(Rounds, tmp_path).root[0].vs_round_0.n == 6  # type: ignore[attr-defined]


def test_unknown_keys_keep_their_place_and_missing_ones_stay_missing(tmp_path: Path) -> None:
    record = {
        "zeta": [1, 2.0, None],
        "n": 2,
        "accuracy": 1,  # an integer stays an integer
        "correct": 2,
        "ci95": [0.5, 1.0],
        "extraction_failure_rate": 0.0,
        "new_field": {"ü": "ß"},
        "tokens": 5,
        "wall_s": 1.5,
        "tokens_per_s": 3.33,
    }
    results = EvalResults.from_json(record)
    assert results.as_json() == record and list(results.as_json()) == list(record)
    assert results.dumps() == json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    assert results.by_depth is None and "by_depth" not in results.dumps()


def test_a_damaged_summary_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    run = eval_run(tmp_path)
    damaged = json.loads(EvalResults.path(run).read_text()) | {"n": "many"}
    EvalResults.path(run).write_text(json.dumps(damaged))
    with pytest.raises(CrescentError, match=r"results\.json: field 'n' is not what crescent writes"):
        EvalResults.from_dir(run)
    del damaged["accuracy"]
    EvalResults.path(run).write_text(json.dumps(damaged))
    with pytest.raises(CrescentError, match=r"field 'accuracy' .*field required"):
        EvalResults.from_dir(run)
    EvalResults.path(run).write_text("{")
    with pytest.raises(CrescentError, match="not valid JSON"):
        EvalResults.from_dir(run)


def test_each_run_kind_is_recognised_by_its_summary_and_has_a_report(tmp_path: Path) -> None:
    for kind in RUN_KINDS.values():
        folder = tmp_path / kind.name
        folder.mkdir()
        (folder / kind.summary_file).write_text("{}")
        assert run_kind(folder) == kind.name
        module = __import__(kind.report, fromlist=["render"])
        assert callable(module.render)
        if kind.export is not None:
            module_name, function = kind.export.card_body.split(":")
            assert callable(getattr(__import__(module_name, fromlist=[function]), function))


SUMMARY_LITERAL = re.compile("|".join(rf"""["']{re.escape(summary.FILE)}["']""" for summary in SUMMARIES))


def test_summary_file_names_are_written_only_in_their_typed_result() -> None:
    """A reader that opens ``stats.json`` (or any summary) by name bypasses its type: the names appear
    as string literals only in ``crescent/results/``."""
    results_dir = ROOT / "src" / "crescent" / "results"
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "src").rglob("*.py"))
        if results_dir not in path.parents
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SUMMARY_LITERAL.search(line)
    ]
    assert offenders == []


def test_the_scan_sees_a_bypass() -> None:
    assert SUMMARY_LITERAL.search("""summary = json.loads((run / "stats.json").read_text())""")
    assert SUMMARY_LITERAL.search("""path = out / 'train_stats.json'""")


def test_a_training_is_read_by_its_mean_loss_per_epoch_not_its_first_and_last_step() -> None:
    """201 rows at 8 a step: the last step is a batch of one row, so ``final_loss`` alone misleads."""
    curve = [{"step": i + 1, "loss": loss} for i, loss in enumerate([0.3, 0.2, 0.1, 0.2, 0.1, 0.9])]
    stats = TrainStats.model_validate({"steps": 6, "epochs": 2.0, "loss_curve": curve})
    assert stats.loss_by_epoch == [0.2, 0.4]
    assert TrainStats.model_validate({"steps": 6, "loss_curve": curve}).loss_by_epoch == []  # epochs unknown
    committed = TrainStats.from_dir(ROOT / "experiments/results/distill-crescent-train")
    assert committed.loss_by_epoch == [0.2103, 0.13477] and committed.final_loss == 0.22741
