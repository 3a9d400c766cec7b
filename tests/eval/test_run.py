"""``crescent eval`` end to end on the fake backend (which solves "a + b"), plus one real-model smoke test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crescent.answers import answers_equal, tally
from crescent.backends.base import Backend
from crescent.backends.fake import FakeBackend
from crescent.cli import app
from crescent.config import EvalConfig, load_config
from crescent.errors import ConfigMismatch, CrescentError
from crescent.eval.data import format_solution, gold_answer, load_items
from crescent.eval.run import evaluate
from crescent.eval.stats import wilson_interval
from crescent.executors.local import LocalExecutor


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def sums(count: int, wrong_gold: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """``a + b`` questions; ids on odd rows only, so both id sources (field, line number) are used."""
    rows = []
    for i in range(count):
        a, b = 3 + i, 10 + 2 * i
        row: dict[str, Any] = {"question": f"Mia has {a} shells and finds {b} more. How many now?"}
        row["answer"] = str(a + b + (1 if i in wrong_gold else 0))
        if i % 2:
            row["id"] = f"q{i}"
        rows.append(row)
    return rows


def make_config(tmp_path: Path, data: Path, **kwargs: Any) -> EvalConfig:
    kwargs.setdefault("out", tmp_path / "run")
    return EvalConfig(data=data, backend="fake", quiet=True, **kwargs)


def local(config: EvalConfig, **fake: Any) -> tuple[LocalExecutor, FakeBackend]:
    backend = FakeBackend(**fake)
    return LocalExecutor(config, backend=backend), backend


def predictions(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_accuracy_ci_and_prediction_rows(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(6, wrong_gold=frozenset({2})))
    config = make_config(tmp_path, data)
    executor, _ = local(config, accuracy=1.0)
    result = evaluate(config, executor=executor)
    r = result.results.as_json()
    assert (r["correct"], r["n"], r["accuracy"]) == (5, 6, round(5 / 6, 4))
    assert r["ci95"] == [round(x, 4) for x in wilson_interval(5, 6)]
    assert r["extraction_failure_rate"] == 0.0 and r["temperature"] == 0.0 and r["tokens"] > 0
    assert json.loads(result.results_path.read_text()) == r
    rows = predictions(config.out)
    assert [row["id"] for row in rows] == ["1", "q1", "3", "q3", "5", "q5"]
    wrong = rows[2]
    assert (wrong["prediction"], wrong["gold"], wrong["correct"]) == ("19", "20", False)
    first = rows[0]
    assert first["correct"] is True and len(first["outputs"]) == 1 and first["answers"] == ["13"]
    assert first["prompt"][-1]["role"] == "user" and first["question"] in first["prompt"][-1]["content"]


def test_majority_vote_scores_the_tally_winner(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(8))
    config = make_config(tmp_path, data, votes=5)
    executor, _ = local(config, accuracy=0.6)
    r = evaluate(config, executor=executor).results.as_json()
    assert r["temperature"] == 0.7  # several votes need sampling, not greedy decoding
    for row in predictions(config.out):
        assert len(row["outputs"]) == 5
        assert row["prediction"] == tally(row["answers"]).winner
        assert row["correct"] == answers_equal(row["gold"], row["prediction"])
    assert r["correct"] == sum(row["correct"] for row in predictions(config.out))


def test_unanswerable_outputs_count_as_extraction_failures(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(4))
    config = make_config(tmp_path, data)
    executor, _ = local(config, garbage=True)
    r = evaluate(config, executor=executor).results.as_json()
    assert r["accuracy"] == 0.0 and r["ci95"][0] == 0.0
    # Garbage is "", "???" or "lorem ipsum": none holds a number.
    assert r["extraction_failure_rate"] == 1.0 and r["output_extraction_failure_rate"] == 1.0


def test_raising_limit_scores_only_the_new_items(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(6))
    first = make_config(tmp_path, data, limit=3, batch_size=2)
    executor, backend = local(first)
    assert evaluate(first, executor=executor).results.n == 3
    assert backend.usage.requests == 3
    second = make_config(tmp_path, data, limit=6, batch_size=4)
    r = evaluate(second, executor=executor).results.as_json()
    assert backend.usage.requests == 6  # three new items, none of the old ones sampled again
    assert r["n"] == 6 and r["resumed"] is True
    assert len({row["id"] for row in predictions(second.out)}) == 6
    shrunk = make_config(tmp_path, data, limit=2)
    assert evaluate(shrunk, executor=executor).results.n == 2
    assert backend.usage.requests == 6


class InterruptAfter:
    """Wraps an executor and dies (like Ctrl-C) while batch ``after`` is in flight."""

    def __init__(self, inner: LocalExecutor, after: int) -> None:
        self.inner, self.after = inner, after

    @property
    def local_backend(self) -> Backend:
        return self.inner.local_backend

    def imap(self, fn: Callable[[Backend, Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        for i, pair in enumerate(self.inner.imap(fn, items)):
            if i == self.after:
                raise KeyboardInterrupt
            yield pair

    def close(self) -> None:
        self.inner.close()


def test_interrupted_eval_resumes_without_duplicates(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(20))
    config = make_config(tmp_path, data, batch_size=2)  # 8 items per backend call
    executor, _ = local(config)
    with pytest.raises(KeyboardInterrupt):
        evaluate(config, executor=InterruptAfter(executor, after=1))
    assert not (config.out / "results.json").exists()
    executor, backend = local(config)
    r = evaluate(config, executor=executor).results.as_json()
    assert backend.usage.requests == 12  # the committed first call (8 items) is not redone
    assert r["n"] == 20 and r["sessions"] == 2
    reference = make_config(tmp_path, data, out=tmp_path / "reference")
    executor, _ = local(reference)
    evaluate(reference, executor=executor)
    # Samples are seeded per item, so the resumed run equals an uninterrupted one.
    assert [row["outputs"] for row in predictions(config.out)] == [
        row["outputs"] for row in predictions(reference.out)
    ]


def test_rerun_with_another_config_stops_clearly(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(3))
    evaluate(make_config(tmp_path, data))
    with pytest.raises(ConfigMismatch, match="votes: 1 -> 3"):
        evaluate(make_config(tmp_path, data, votes=3))
    write_jsonl(data, sums(4))  # same path, other contents: the stored items no longer describe it
    with pytest.raises(ConfigMismatch, match="data_sha256"):
        evaluate(make_config(tmp_path, data))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "What is 1 + 2?", "answer": "3"', r"bad\.jsonl:2: not valid JSON"),
        ('{"question": "What is 1 + 2?"}', r"bad\.jsonl:2: missing or empty field 'answer'"),
        ('{"id": "a", "question": "What is 1 + 2?", "answer": "3"}', r"bad\.jsonl:2: duplicate id 'a'"),
    ],
)
def test_malformed_data_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = '{"id": "a", "question": "What is 2 + 2?", "answer": "4"}'
    data = write_jsonl(tmp_path / "bad.jsonl", [good, line])
    config = make_config(tmp_path, data)
    with pytest.raises(CrescentError, match=message):
        evaluate(config)
    assert not config.out.exists()  # bad input fails before anything is created or loaded


def test_fewshot_is_never_drawn_from_the_evaluated_file(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(4))
    (tmp_path / "alias.jsonl").symlink_to(data)
    for source in (data, tmp_path / "alias.jsonl"):
        with pytest.raises(CrescentError, match="is the evaluated file"):
            evaluate(make_config(tmp_path, data, shots=1, fewshot_from=source))
    with pytest.raises(CrescentError, match=r"invalid option fewshot_from: .*--shots 2 needs --fewshot-from"):
        load_config(EvalConfig, None, data=data, out=tmp_path / "run", shots=2)


def test_fewshot_prompt_uses_clean_shots_that_skip_evaluated_questions(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(3))
    leaked = sums(1)[0]["question"]  # also in the evaluated file: must never be shown as a worked example
    pool = write_jsonl(
        tmp_path / "train.jsonl",
        [
            {"question": leaked, "answer": "13", "solution": "3 + 10 = <<3+10=13>>13\n#### 13"},
            {
                "question": "Tom has 2 cats and 5 dogs. How many pets?",
                "answer": "7",
                "solution": "2 + 5 = <<2+5=7>>7 pets\n#### 7",
            },
            {"question": "Lia reads 4 books and 4 more. How many?", "answer": "8 books\n#### 8"},
        ],
    )
    config = make_config(tmp_path, data, shots=2, fewshot_from=pool)
    executor, _ = local(config, accuracy=1.0)
    r = evaluate(config, executor=executor).results.as_json()
    assert sorted(s["line"] for s in r["shots"]) == [2, 3]
    prompts = [row["prompt"] for row in predictions(config.out)]
    assert all(p[:4] == prompts[0][:4] for p in prompts)  # one shared prefix for every item
    assert [m["role"] for m in prompts[0]] == ["user", "assistant", "user", "assistant", "user"]
    shown = {m["content"] for m in prompts[0] if m["role"] == "assistant"}
    assert shown == {"2 + 5 = 7 pets\nThe answer is 7.", "8 books\nThe answer is 8."}
    assert not any(leaked in m["content"] for p in prompts for m in p[:-1])
    assert r["accuracy"] == 1.0  # the fake solves the question in the last turn, not a shot


def test_gsm8k_formatting_helpers(tmp_path: Path) -> None:
    solution = "She has 16 - 3 = <<16-3=13>>13 eggs.\nSo 13 * 2 = $<<13*2=26>>26.\n#### 26"
    assert format_solution(solution) == "She has 16 - 3 = 13 eggs.\nSo 13 * 2 = $26.\nThe answer is 26."
    assert format_solution("2 + 2 = 4", "4") == "2 + 2 = 4\nThe answer is 4."
    assert format_solution("So the answer is 4.", "4") == "So the answer is 4."
    assert gold_answer("Half of 144 is 72.\n#### 72") == "72"
    assert gold_answer(" 1,000 ") == "1,000"
    items = load_items(write_jsonl(tmp_path / "g.jsonl", ["", '{"question": " Q? ", "answer": 5}']))
    assert [(i.id, i.question, i.gold, i.line) for i in items] == [("2", "Q?", "5", 2)]


def test_cli_runs_without_the_word_run_and_compares(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sums.jsonl", sums(5))
    runner = CliRunner()
    base = ["--data", str(data), "--backend", "fake", "--quiet"]
    first = runner.invoke(app, ["eval", *base, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["eval", "run", *base, "--votes", "3", "--out", str(tmp_path / "b")])
    assert second.exit_code == 0, second.output
    assert (tmp_path / "b" / "results.json").is_file()
    compared = runner.invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert compared.exit_code == 0, compared.output
    report = json.loads(compared.stdout.strip().splitlines()[-1])
    accuracy_a = json.loads((tmp_path / "a" / "results.json").read_text())["accuracy"]
    assert report["n"] == 5 and report["accuracy_a"] == accuracy_a


@pytest.mark.slow
def test_embedded_model_smoke(tmp_path: Path, gsm8k_dir: Path) -> None:
    rows = [json.loads(line) for line in (gsm8k_dir / "test.jsonl").read_text().splitlines()[:2]]
    data = write_jsonl(tmp_path / "two.jsonl", rows)
    config = EvalConfig(data=data, out=tmp_path / "run", quiet=True, max_tokens=24, n_ctx=512, threads=1)
    r = evaluate(config).results.as_json()
    assert r["n"] == 2 and r["tokens"] > 0 and r["truncated_rate"] > 0
    assert all(row["outputs"][0] for row in predictions(config.out))


def test_an_item_longer_than_the_context_is_named_skipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One 10 MB-style question used to kill the whole batch (and the run)."""
    rows: list[dict[str, Any] | str] = [*sums(5)]
    rows[2] = {"id": "huge", "question": "How many? " + "word " * 3000, "answer": "1"}
    data = write_jsonl(tmp_path / "bench.jsonl", rows)
    config = make_config(tmp_path, data, batch_size=8)  # n_ctx 2048: the fake backend counts words
    result = evaluate(config)
    err = capsys.readouterr().err
    assert f"warning: skipped item huge ({data}:3): a prompt of 3,0" in err and "does not fit" in err
    assert result.results.n == 4 and [p["id"] for p in predictions(config.out)] == ["1", "q1", "q3", "5"]
    (skipped,) = result.results.skipped
    assert skipped["id"] == "huge" and skipped["line"] == 3 and "--n-ctx" in skipped["reason"]
    assert "1 items skipped" in result.describe()
    executor, backend = local(config)
    again = evaluate(config, executor=executor)  # a rerun does not try it again, and still reports it
    assert backend.usage.requests == 0 and again.results.skipped == result.results.skipped
