"""Contamination checks on real GSM8K questions, with the fake backend's bag-of-words embeddings."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crescent.cli import main
from crescent.config import GenerateConfig
from crescent.errors import CrescentError
from crescent.eval.contamination import ContaminationConfig, check_contamination
from crescent.pipeline.dedup import Deduplicator
from crescent.pipeline.generate import generate
from crescent.similarity import NgramIndex, words

DIFFERENT = "A train leaves at noon at sixty miles per hour. How far has it gone by three o'clock?"


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def benchmark_rows(gsm8k_dir: Path) -> list[dict[str, Any]]:
    with (gsm8k_dir / "test.jsonl").open() as handle:
        return [json.loads(next(handle)) for _ in range(200)]


@pytest.fixture
def files(tmp_path: Path, benchmark_rows: list[dict[str, Any]]) -> tuple[Path, Path, list[str]]:
    """A benchmark file, and generated rows: a copy, a 13-gram overlap with a new ending, a new question."""
    copied, edited = benchmark_rows[3]["question"], benchmark_rows[7]["question"]
    overlap = " ".join(edited.split()[:16]) + " How many hats does the clown own?"
    generated = [
        {"id": "copy", "question": copied},
        {"id": "overlap", "question": overlap},
        {"id": "new", "question": DIFFERENT},
    ]
    bench = write_jsonl(tmp_path / "bench.jsonl", benchmark_rows)
    return write_jsonl(tmp_path / "data.jsonl", generated), bench, [copied, edited]


@pytest.fixture
def own_questions(tmp_path: Path) -> Path:
    """Generated rows that need no benchmark, so the bad-input tests run without the GSM8K files."""
    return write_jsonl(tmp_path / "data.jsonl", [{"id": "new", "question": DIFFERENT}])


def config(data: Path, bench: Path, out: Path, **kwargs: Any) -> ContaminationConfig:
    return ContaminationConfig(
        data=data, against=[bench], out=out, backend="fake", model="dim=256", quiet=True, **kwargs
    )


def test_words_are_lowercase_and_ignore_punctuation() -> None:
    assert words("It's 5%, Ava_Lee!  ＴＯＴＡＬ") == ["it", "s", "5", "ava", "lee", "total"]


def test_ngram_index_finds_the_shared_ngram_only() -> None:
    index = NgramIndex(4)
    index.add_all(["The cat sat on the mat today.", "A dog ran in the park."])
    match = index.find("Yesterday, THE DOG ran in the park!")
    assert match is not None and (match.key, match.ngram) == (1, "dog ran in the")
    assert index.find("The cat sat under the mat.") is None  # shares 3-grams only


def test_short_texts_count_whole_but_tiny_ones_are_not_indexed() -> None:
    index = NgramIndex()
    index.add("How many apples are left in the basket now?", key=5)  # 9 words < 13
    index.add("What is two plus two?", key=6)  # 5 words: would match too much
    match = index.find("Tom asks: how many apples are left in the basket now? Help him.")
    assert match is not None and match.key == 5
    assert index.find("what is two plus two") is None


def test_copy_and_overlap_are_flagged_and_a_new_question_is_not(
    tmp_path: Path, files: tuple[Path, Path, list[str]]
) -> None:
    data, bench, (_, edited) = files
    result = check_contamination(config(data, bench, tmp_path / "out"))
    flagged = [json.loads(line) for line in result.flagged_path.read_text().splitlines()]
    reasons = {(f["generated_id"], f["reason"]) for f in flagged}
    assert reasons >= {("copy", "ngram"), ("copy", "embedding"), ("overlap", "ngram")}
    assert not {r for r in reasons if r[0] == "new"}
    by_key = {(f["generated_id"], f["reason"]): f for f in flagged}
    assert by_key[("copy", "embedding")]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert by_key[("copy", "embedding")]["benchmark_id"] == "gsm8k-test-0003"
    overlap = by_key[("overlap", "ngram")]
    assert overlap["benchmark_question"] == edited and len(overlap["ngram"].split()) == 13
    assert overlap["ngram"] in " ".join(words(edited))
    summary = json.loads(result.summary_path.read_text())
    assert summary["generated"] == 3 and summary["benchmark"] == {str(bench): 200}
    assert summary["flagged"]["ngram"] == 2 and summary["flagged"]["any"] == 2
    assert summary["rates"]["any"] == pytest.approx(2 / 3, abs=1e-4)


def test_without_embeddings_no_model_is_needed(tmp_path: Path, files: tuple[Path, Path, list[str]]) -> None:
    data, bench, _ = files
    cfg = ContaminationConfig(
        data=data,
        against=[bench],
        out=tmp_path / "out",
        model="/nonexistent.gguf",
        embeddings=False,
        quiet=True,
    )
    result = check_contamination(cfg)
    assert {f["reason"] for f in result.flagged} == {"ngram"} and result.summary.flagged["embedding"] == 0


@pytest.mark.parametrize(
    ("bench_lines", "message"),
    [
        (['{"question": "fine question here?"}', "{not json"], "bench.jsonl:2: not valid JSON"),
        (['{"question": "fine question?"}', '{"id": 3}'], "bench.jsonl:2: missing or empty field 'question'"),
        (['{"question": ["a list"]}'], "bench.jsonl:1: field 'question' must be a string"),
        ([], "holds no rows"),
    ],
)
def test_bad_benchmark_file_names_file_and_line(
    tmp_path: Path, own_questions: Path, bench_lines: list[str], message: str
) -> None:
    bad = write_jsonl(tmp_path / "bench.jsonl", bench_lines)
    with pytest.raises(CrescentError, match=message):
        check_contamination(config(own_questions, bad, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_embedding_check_needs_several_benchmark_questions(tmp_path: Path, own_questions: Path) -> None:
    one = write_jsonl(tmp_path / "one.jsonl", [{"question": DIFFERENT}])
    with pytest.raises(CrescentError, match="--no-embeddings"):
        check_contamination(config(own_questions, one, tmp_path / "out"))


def test_cli_writes_both_files_and_errors_in_one_line(
    tmp_path: Path,
    files: tuple[Path, Path, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, bench, _ = files
    out = tmp_path / "out"
    base = ["crescent", "contamination", "--data", str(data), "--backend", "fake", "--model", "dim=256"]
    twice = ["--against", str(bench), "--against", str(bench)]
    monkeypatch.setattr(sys, "argv", [*base, *twice, "--out", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 0
    assert json.loads((out / "summary.json").read_text())["benchmark"] == {str(bench): 200}
    assert captured.out.strip() == str(out / "summary.json")
    assert "13-gram overlap" in captured.err and (out / "flagged.jsonl").exists()
    monkeypatch.setattr(sys, "argv", [*base, "--against", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.startswith("error:") and "missing.jsonl" in err
    assert len(err.splitlines()) == 1


def test_deduplicator_rejects_an_ngram_overlap_before_the_embedding_check() -> None:
    dedup = Deduplicator(mean=np.zeros(2), threshold=0.9)
    benchmark = "Janet's ducks lay 16 eggs per day and she eats three of them for breakfast every morning."
    dedup.exclude([benchmark], np.array([[1.0, 0.0]], dtype=np.float32))
    edited = "Janet's ducks lay 16 eggs per day and she eats three of them for lunch. How many are left?"
    decision = dedup.decide(edited, np.array([0.0, 1.0], dtype=np.float32))  # far in embedding space
    assert (decision.accepted, decision.reason) == (False, "excluded_ngram")
    assert dedup.decide("Tom has 3 eggs and buys 4 more. How many eggs?", np.array([0.0, 1.0])).accepted


def test_generate_exclude_rejects_ngram_overlaps(tmp_path: Path) -> None:
    """The fake model writes '<Name> has <a> <things> and buys <b> more. How many ...'; excluding longer
    questions that contain those words rejects them as n-gram copies, never as exact ones."""
    base = GenerateConfig(out=tmp_path / "a", backend="fake", questions=12, votes=3, quiet=True, batch_size=8)
    first = generate(base)
    taken = [json.loads(line)["question"] for line in first.data_path.read_text().splitlines()]
    extended = [{"question": f"Last week at the fair: {q} Explain your reasoning."} for q in taken[:6]]
    exclude = write_jsonl(tmp_path / "bench.jsonl", extended)
    second = generate(base.model_copy(update={"out": tmp_path / "b", "exclude": [exclude]}))
    rejected = second.stats.bait.rejected
    assert rejected.get("excluded_ngram", 0) > 0 and "excluded_exact" not in rejected
    kept = {json.loads(line)["question"] for line in second.data_path.read_text().splitlines()}
    assert not kept & set(taken[:6])
