"""``crescent eval rescore``: depth and accuracy by depth for an eval folder, without sampling again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crescent.backends.fake import FakeBackend
from crescent.cli import app
from crescent.config import EvalConfig, RescoreConfig
from crescent.errors import CrescentError
from crescent.eval.rescore import rescore
from crescent.eval.run import evaluate
from crescent.executors.local import LocalExecutor

from .test_run import predictions, write_jsonl

# Sum questions the fake backend solves, with reference solutions of known depth: annotations (1, 2, 6),
# plain equations (2), none (unknown); the item at depth 2 with a wrong gold is scored wrong.
ROWS = [
    {"id": "a", "question": "Mia has 3 shells and finds 10 more. How many now?", "answer": "13",
     "solution": "3 + 10 = <<3+10=13>>13\n#### 13"},
    {"id": "b", "question": "Mia has 4 shells and finds 12 more. How many now?", "answer": "17",
     "solution": "4 + 12 = <<4+12=16>>16, then <<16+0=16>>16\n#### 16"},
    {"id": "c", "question": "Mia has 5 shells and finds 14 more. How many now?", "answer": "19",
     "solution": "5 + 14 = 19 and 19 * 1 = 19, so 19."},
    {"id": "d", "question": "Mia has 6 shells and finds 16 more. How many now?", "answer": "22",
     "solution": "".join(f"<<{k}+1={k + 1}>>" for k in range(6))},
    {"id": "e", "question": "Mia has 7 shells and finds 18 more. How many now?", "answer": "25"},
]  # fmt: skip
DEPTHS = {"a": 1, "b": 2, "c": 2, "d": 6, "e": None}


def run_eval(tmp_path: Path) -> tuple[Path, Path, dict]:
    data = write_jsonl(tmp_path / "bench.jsonl", ROWS)
    config = EvalConfig(data=data, backend="fake", quiet=True, out=tmp_path / "run")
    result = evaluate(config, executor=LocalExecutor(config, backend=FakeBackend(accuracy=1.0)))
    return data, config.out, result.results.as_json()


def test_eval_writes_depth_per_item_and_by_depth(tmp_path: Path) -> None:
    _, out, results = run_eval(tmp_path)
    assert {row["id"]: row["depth"] for row in predictions(out)} == DEPTHS
    by = {row["depth"]: row for row in results["by_depth"]}
    assert sum(row["n"] for row in results["by_depth"]) == results["n"] == 5
    assert (by["1"]["n"], by["1"]["accuracy"]) == (1, 1.0)
    assert (by["2"]["n"], by["2"]["correct"], by["2"]["accuracy"]) == (2, 1, 0.5)  # "b" has a wrong gold
    assert (by["5+"]["n"], by["unknown"]["n"], by["3"]["n"]) == (1, 1, 0)


def test_rescore_gives_an_old_folder_what_a_new_eval_writes(tmp_path: Path) -> None:
    data, out, results = run_eval(tmp_path)
    new_predictions = (out / "predictions.jsonl").read_text()
    # The folder as an older crescent wrote it: no depth anywhere.
    old_rows = [{k: v for k, v in row.items() if k != "depth"} for row in predictions(out)]
    (out / "predictions.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in old_rows)
    )
    old_results = {k: v for k, v in results.items() if k != "by_depth"}
    (out / "results.json").write_text(json.dumps(old_results, indent=2))
    rescored = rescore(RescoreConfig(run_dir=out, data=data))
    assert rescored.results.as_json() == results
    assert json.loads((out / "results.json").read_text()) == results
    assert list(rescored.results.as_json()) == list(results)  # by_depth where a new eval puts it
    assert (out / "predictions.jsonl").read_text() == new_predictions
    rescore(RescoreConfig(run_dir=out, data=data))  # idempotent
    assert (out / "predictions.jsonl").read_text() == new_predictions


def test_rescore_refuses_a_folder_that_does_not_match(tmp_path: Path) -> None:
    data, out, _ = run_eval(tmp_path)
    other = write_jsonl(tmp_path / "other.jsonl", ROWS[:2])
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(CrescentError, match=r"not the file .* was scored on"):
        rescore(RescoreConfig(run_dir=out, data=other))
    results = json.loads((out / "results.json").read_text())
    del results["data_sha256"]
    (out / "results.json").write_text(json.dumps(results))
    with pytest.raises(CrescentError, match=r"predictions\.jsonl:3: item 'c' is not in --data"):
        rescore(RescoreConfig(run_dir=out, data=other))
    results["correct"] += 1
    (out / "results.json").write_text(json.dumps(results))
    with pytest.raises(CrescentError, match="says 5/5; the folder was edited"):
        rescore(RescoreConfig(run_dir=out, data=data))
    assert (out / "predictions.jsonl").read_bytes() == before["predictions.jsonl"]
    with pytest.raises(CrescentError, match=r"holds no results\.json"):
        rescore(RescoreConfig(run_dir=tmp_path / "nowhere", data=data))


def test_cli_rescore(tmp_path: Path) -> None:
    data, out, _ = run_eval(tmp_path)
    result = CliRunner().invoke(app, ["eval", "rescore", str(out), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out / "results.json")
    assert (
        "rescored 5 items" in result.output
        and "by depth: 1: 100.0% of 1, 2: 50.0% of 2, 5+: 100.0% of 1" in result.output
    )
