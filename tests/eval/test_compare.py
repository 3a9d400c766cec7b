"""``crescent eval compare``: paired statistics over the items two eval directories share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crescent.cli import app
from crescent.errors import CrescentError
from crescent.eval.compare import compare_runs


def write_run(directory: Path, correct: dict[str, bool], questions: dict[str, str] | None = None) -> Path:
    directory.mkdir(parents=True)
    rows = [
        {"id": item_id, "question": (questions or {}).get(item_id, f"question {item_id}"), "correct": ok}
        for item_id, ok in correct.items()
    ]
    (directory / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


def test_paired_comparison_on_shared_items(tmp_path: Path) -> None:
    # 20 shared items: 10 right in both, 1 only A right, 6 only B right, 3 wrong in both; plus unshared ones.
    pattern = [(True, True)] * 10 + [(True, False)] + [(False, True)] * 6 + [(False, False)] * 3
    a = {f"i{k}": ra for k, (ra, _) in enumerate(pattern)} | {"only-a": True}
    b = {f"i{k}": rb for k, (_, rb) in enumerate(pattern)} | {"only-b1": False, "only-b2": True}
    report = compare_runs(write_run(tmp_path / "a", a), write_run(tmp_path / "b", b))
    assert (report["n"], report["only_in_a"], report["only_in_b"]) == (20, 1, 2)
    assert (report["accuracy_a"], report["accuracy_b"]) == (0.55, 0.8)
    assert report["difference"] == 0.25
    # Normal approximation: 0.25 ± 1.96 * 0.12; the bootstrap's steps are 1/20 wide.
    assert report["difference_ci95"] == pytest.approx([0.015, 0.485], abs=0.05)
    assert (report["a_only_correct"], report["b_only_correct"]) == (1, 6)
    assert report["mcnemar_p"] == 0.125  # 2 * (C(7,0) + C(7,1)) / 2^7


def test_compare_refuses_runs_without_common_items(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {"x": True})
    b = write_run(tmp_path / "b", {"y": True})
    with pytest.raises(CrescentError, match="share no item ids"):
        compare_runs(a, b)
    c = write_run(tmp_path / "c", {"x": False}, questions={"x": "another benchmark's question"})
    with pytest.raises(CrescentError, match="item 'x' has different questions"):
        compare_runs(a, c)
    with pytest.raises(CrescentError, match=r"holds no predictions\.jsonl"):
        compare_runs(a, tmp_path / "missing")


def test_compare_names_the_bad_line(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {"x": True, "y": False})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "predictions.jsonl").write_text('{"id": "x", "correct": true}\n{"id": "y", "correct": "yes"}\n')
    with pytest.raises(CrescentError, match=r"predictions\.jsonl:2: field 'correct' must be true or false"):
        compare_runs(a, bad)


def test_cli_compare_writes_only_when_asked(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {"x": True, "y": False, "z": False})
    b = write_run(tmp_path / "b", {"x": True, "y": True, "z": True})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["b_only_correct"] == 2
    assert "B − A" in result.output and "McNemar" in result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    out = tmp_path / "reports" / "ab.json"
    result = runner.invoke(app, ["eval", "compare", str(a), str(b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["difference"] == round(2 / 3, 4)


def test_compare_per_depth_flags_the_bucket_that_got_worse(tmp_path: Path) -> None:
    # One-step items: B newly solves 12 of 20; two-step items: B loses 12 of 20 it solved; overall 0.
    ids = [f"i{k}" for k in range(40)]
    a = dict(zip(ids, [False] * 20 + [True] * 20, strict=True))
    b = dict(zip(ids, [True] * 12 + [False] * 8 + [False] * 12 + [True] * 8, strict=True))
    depth = {item_id: 1 if k < 20 else 2 for k, item_id in enumerate(ids)}
    dir_a, dir_b = write_run(tmp_path / "a", a), write_run(tmp_path / "b", b)
    for directory in (dir_a, dir_b):  # as a new eval writes them: every row has its depth
        path = directory / "predictions.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(r | {"depth": depth[r["id"]]}) + "\n" for r in rows))
    report = compare_runs(dir_a, dir_b, resamples=2000)
    assert report["difference"] == 0.0
    one, two = report["by_depth"]
    assert (one["depth"], one["n"], one["difference"], one["worse"]) == ("1", 20, 0.6, False)
    assert (two["depth"], two["n"], two["difference"], two["worse"]) == ("2", 20, -0.6, True)
    assert report["worse_depths"] == ["2"]
    result = CliRunner().invoke(app, ["eval", "compare", str(dir_a), str(dir_b)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.strip().startswith("2: n   20") and "worse: CI wholly below 0" in line for line in lines)
    assert not any(line.strip().startswith("1: n") and "worse" in line for line in lines)


def test_compare_without_depths_says_how_to_get_them(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {"x": True, "y": False})
    b = write_run(tmp_path / "b", {"x": True, "y": True})
    report = compare_runs(a, b)
    assert report["by_depth"] is None
    result = CliRunner().invoke(app, ["eval", "compare", str(a), str(b)])
    assert "eval rescore" in result.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "predictions.jsonl").write_text('{"id": "x", "correct": true, "depth": "two"}\n')
    with pytest.raises(CrescentError, match=r"predictions\.jsonl:1: field 'depth' must be a whole number"):
        compare_runs(a, bad)
