"""Small finished runs on the fake backend, for the commands that read runs (report, export)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from crescent.config import EvalConfig, GenerateConfig
from crescent.eval.run import evaluate
from crescent.pipeline.generate import generate

SCRIPT = "<script>alert('x')</script>"


def generate_run(out: Path, *, poison: bool = True, **overrides) -> Path:
    """A finished generate run; with ``poison`` the first question (in the store and data.jsonl) holds a
    ``<script>`` tag, as model text may: the commands reading it must escape it."""
    values = dict(out=out, backend="fake", questions=8, votes=3, quiet=True, batch_size=8)
    values.update(overrides)
    generate(GenerateConfig(**values))
    if poison:
        db = sqlite3.connect(out / "run.sqlite")
        with db:
            db.execute(
                "UPDATE questions SET question = question || ? WHERE attempt = "
                "(SELECT MIN(attempt) FROM questions)",
                (SCRIPT,),
            )
        db.close()
        lines = (out / "data.jsonl").read_text().splitlines()
        first = json.loads(lines[0])
        first["question"] += SCRIPT
        (out / "data.jsonl").write_text("".join(line + "\n" for line in [json.dumps(first), *lines[1:]]))
    return out


def eval_run(tmp_path: Path, n: int = 6, wrong_gold: frozenset[int] = frozenset({1, 4})) -> Path:
    """A finished eval of ``a + b`` questions (the fake backend solves them); ``wrong_gold`` items are
    scored wrong; the first question holds a ``<script>`` tag. Reference solutions take 1 step (items
    0, 3, ...), 2 steps (1, 4, ...) or are missing (2, 5, ...): by default both 2-step items are wrong."""
    rows = []
    for i in range(n):
        a, b = 3 + i, 10 + 2 * i
        question = f"Mia has {a} shells and finds {b} more. How many now?" + (SCRIPT if i == 0 else "")
        row = {"id": f"q{i}", "question": question, "answer": str(a + b + (1 if i in wrong_gold else 0))}
        steps = [f"<<{a}+{b}={a + b}>>", f"<<{a + b}*1={a + b}>>"][: (1, 2, 0)[i % 3]]
        if steps:
            row["solution"] = " then ".join(steps) + f"\n#### {a + b}"
        rows.append(row)
    data = tmp_path / "bench.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval"
    evaluate(EvalConfig(data=data, out=out, backend="fake", quiet=True))
    return out
