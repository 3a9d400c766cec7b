"""pairs.jsonl and multi-path rows from generate on the fake backend; TRL reads the pairs as they are."""

from __future__ import annotations

import json
import random
import re
import sqlite3
from pathlib import Path

import pytest

from crescent.backends.fake import FakeBackend
from crescent.config import GenerateConfig
from crescent.pipeline.generate import generate


def _config(out: Path, **overrides) -> GenerateConfig:
    values = dict(out=out, backend="fake", questions=12, votes=5, quiet=True, batch_size=8)
    values.update(overrides)
    return GenerateConfig(**values)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pairs_contrast_the_label_with_its_least_voted_losing_vote(tmp_path: Path) -> None:
    result = generate(_config(tmp_path / "run", model="accuracy=0.6"))
    data = {row["id"]: row for row in _rows(result.data_path)}
    pairs = _rows(result.pairs_path)
    assert pairs and result.stats.pairs.written == len(pairs) == result.stats.pairs.from_votes
    for pair in pairs:
        row = data[pair["id"]]
        assert pair["prompt"] == row["messages"][:1]
        assert pair["chosen"] == [{"role": "assistant", "content": row["solution"]}]
        assert pair["rejected"][0]["role"] == "assistant" and pair["rejected_answer"] != pair["answer"]
        assert f"The answer is {pair['rejected_answer']}." in pair["rejected"][0]["content"]
        assert pair["votes_chosen"] == row["votes"][row["answer"]] and pair["votes"] == 5
        losing = [n for answer, n in row["votes"].items() if answer != row["answer"]]
        assert pair["votes_rejected"] == min(losing)
        assert pair["weight"] == round((pair["votes_chosen"] - pair["votes_rejected"]) / 5, 4) > 0
    unanimous = [r for r in data.values() if len(r["votes"]) == 1]
    assert result.stats.pairs.unanimous_without_pair == len(unanimous) == len(data) - len(pairs)


@pytest.mark.slow
def test_pairs_load_in_datasets_and_tokenize_in_trls_dpo_trainer(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from tiny_model import build_tiny_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    result = generate(_config(tmp_path / "run", model="accuracy=0.6"))
    dataset = datasets.load_dataset("json", data_files=str(result.pairs_path), split="train")
    assert dataset.num_rows == result.stats.pairs.written > 0
    assert is_conversational(dataset[0])
    model_dir = build_tiny_model(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    text = maybe_apply_chat_template(dataset[0], tokenizer)
    assert dataset[0]["rejected"][0]["content"] in text["rejected"] and text[
        "prompt"
    ] in tokenizer.apply_chat_template(dataset[0]["prompt"] + dataset[0]["chosen"], tokenize=False)
    trainer = trl.DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=trl.DPOConfig(output_dir=str(tmp_path / "dpo"), report_to=[], max_steps=1, use_cpu=True),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    first = trainer.train_dataset[0]
    assert first["prompt_ids"] and first["chosen_ids"] and first["rejected_ids"]
    assert first["chosen_ids"] != first["rejected_ids"]


def _probes(out: Path) -> dict[tuple[str, int], str]:
    db = sqlite3.connect(out / "run.sqlite")
    try:
        return {(q, i): t for q, i, t in db.execute("SELECT question_id, idx, text FROM probes")}
    finally:
        db.close()


def test_probes_find_a_rejected_solution_where_every_vote_agreed_and_change_no_label(tmp_path: Path) -> None:
    plain = generate(_config(tmp_path / "plain", votes=3, model="accuracy=0.9"))
    probed = generate(_config(tmp_path / "probed", votes=3, model="accuracy=0.9", pair_probes=4))
    assert probed.data_path.read_text() == plain.data_path.read_text()  # probes never vote
    stats = probed.stats.pairs
    assert stats.from_probes > 0 and stats.written == plain.stats.pairs.written + stats.from_probes
    unanimous = plain.stats.pairs.unanimous_without_pair
    assert stats.probes_drawn == 4 * unanimous
    from_probes = [p for p in _rows(probed.pairs_path) if p["rejected_from"] == "probes"]
    assert all(p["rejected_answer"] != p["answer"] and p["weight"] == 1.0 for p in from_probes)
    before = _probes(tmp_path / "probed")
    more = generate(_config(tmp_path / "probed", votes=3, model="accuracy=0.9", pair_probes=6))
    after = _probes(tmp_path / "probed")
    assert all(after[key] == text for key, text in before.items()) and len(after) == 6 * unanimous
    assert more.stats.pairs.probes_drawn == 6 * unanimous


def _two_ways(self: FakeBackend, question: str, rng: random.Random) -> str:
    """The fake's solver, writing its sum in either order: two paths to one answer."""
    a, b = (int(x) for x in re.findall(r"\d+", question)[:2])
    total = a + b if rng.random() < 0.8 else a + b + 1
    first, second = (a, b) if rng.random() < 0.5 else (b, a)
    return f"Add them: {first} + {second} = {total}.\nThe answer is {total}."


def test_paths_keep_distinct_winning_solutions_per_question(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(FakeBackend, "_solve", _two_ways)
    out = tmp_path / "run"
    one = generate(_config(out))
    rows = _rows(one.data_path)
    assert [r["path"] for r in rows] == [0] * len(rows) and one.stats.export.rows_per_question == {
        "1": len(rows)
    }
    monkeypatch.setattr(FakeBackend, "sample", lambda *a, **k: pytest.fail("paths are read from the votes"))
    two = generate(_config(out, paths=3))
    by_question: dict[str, list[dict]] = {}
    for row in _rows(two.data_path):
        by_question.setdefault(row["id"], []).append(row)
    assert [group[0] for group in by_question.values()] == rows  # path 0 is the --paths 1 row
    assert any(len(group) == 2 for group in by_question.values())
    for group in by_question.values():
        assert [r["path"] for r in group] == list(range(len(group))) and len(group) <= 2
        assert len({r["solution"].split("=")[0] for r in group}) == len(group)  # different equations
        assert all(r["messages"][1]["content"] == r["solution"] for r in group)
    histogram = two.stats.export.rows_per_question
    assert sum(int(n) * q for n, q in histogram.items()) == two.stats.export.rows
