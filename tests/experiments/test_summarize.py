"""experiments/summarize.py: where the compute hours went, read from each run's own summary."""

from __future__ import annotations

import json
from pathlib import Path

from fixture_runs import eval_run, generate_run
from repo_scripts import load_script

summarize = load_script("experiments/summarize.py")


def _train_run(folder: Path, seconds: float) -> None:
    folder.mkdir(parents=True)
    (folder / "train_stats.json").write_text(json.dumps({"steps": 1, "train_time_s": seconds}))


def test_compute_hours_counts_each_run_and_sums_a_folder_of_runs(tmp_path: Path) -> None:
    _train_run(tmp_path / "arm-a-train", 1800)
    _train_run(tmp_path / "bait-measure" / "prompt-1", 3600)  # a folder of runs, as measure_bait writes
    _train_run(tmp_path / "bait-measure" / "prompt-2", 7200)
    (tmp_path / "bait-measure" / "measure_bait.json").write_text("{}")
    (tmp_path / "unfinished").mkdir()  # no summary yet: no hours

    assert summarize.compute_hours(tmp_path) == {"arm-a-train": 0.5, "bait-measure": 3.0}


def _audit_run(folder: Path, seconds: float) -> None:
    folder.mkdir(parents=True)
    score = {"kept": 1, "correct": 1, "coverage": 1.0, "precision": 1.0, "precision_ci95": [0.2, 1.0]}
    audit = {"n": 1, "votes": 8, "default": score, "plain_majority": score, "wall_s": seconds}
    (folder / "audit.json").write_text(json.dumps(audit))


def test_compute_hours_counts_a_rescored_audits_votes_once(tmp_path: Path) -> None:
    """A rescore works on a copy of its source's store, so its wall time starts from the source's."""
    _audit_run(tmp_path / "audit8", 3600)
    _audit_run(tmp_path / "audit8-rescored", 3600 + 720)
    (tmp_path / "audit8-rescored" / summarize.RESCORED_FROM).write_text("audit8\n")

    assert summarize.compute_hours(tmp_path) == {"audit8": 1.0, "audit8-rescored": 0.2}


def test_an_entrys_train_rows_are_what_the_model_trained_on(tmp_path: Path) -> None:
    """A DPO arm reads the pairs, not the SFT rows its data run wrote; the entry must say the former."""
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before = eval_run(tmp_path / "before")
    after = eval_run(tmp_path / "after", wrong_gold=frozenset({1}))
    data = generate_run(tmp_path / "data", poison=False)
    written = len((data / "data.jsonl").read_text().splitlines())
    (tmp_path / "dpo-train").mkdir()
    (tmp_path / "dpo-train" / "train_stats.json").write_text(json.dumps({"steps": 2, "rows": written + 5}))
    names = (str(before.relative_to(tmp_path)), str(after.relative_to(tmp_path)), "data")

    entry = summarize._entry(tmp_path, *names, "dpo-train")
    assert entry is not None
    assert entry["train_rows"] == written + 5
    assert entry["diff"] > 0  # item 4 became right
    assert summarize._entry(tmp_path, *names, "no-train-run")["train_rows"] == written


def test_a_pair_reads_a_run_missing_here_from_its_committed_copy(tmp_path: Path, monkeypatch) -> None:
    """#20's runs pair with #19's format control, whose eval lives only in experiments/results/ now."""
    runs, results = tmp_path / "runs", tmp_path / "repo" / "experiments" / "results"
    runs.mkdir()
    results.mkdir(parents=True)
    eval_run(results)  # the committed copy: results/eval
    (runs / "new").mkdir()
    eval_run(runs / "new", wrong_gold=frozenset({1}))  # this script's own run: runs/new/eval
    monkeypatch.setattr(summarize, "ROOT", tmp_path / "repo")

    paired = summarize._paired(runs, "eval", "new/eval")
    assert paired is not None and paired["diff"] > 0  # item 4 became right
    assert summarize._paired(runs, "absent", "new/eval") is None
