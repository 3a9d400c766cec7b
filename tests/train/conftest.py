"""Fixtures for training tests: one tiny random model per session, and tiny chat data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_model import build_tiny_model

ROWS = [
    ("What is 2 plus 3?", "2 plus 3 is 5. The answer is 5."),
    ("What is 4 plus 4?", "4 plus 4 is 8. The answer is 8."),
    ("What is 6 minus 1?", "6 minus 1 is 5. The answer is 5."),
    ("What is 3 times 3?", "3 times 3 is 9. The answer is 9."),
]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def write_chat_rows(path: Path, rows: list[tuple[str, str]] = ROWS) -> Path:
    with path.open("w") as handle:
        for question, answer in rows:
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            handle.write(json.dumps({"id": question, "messages": messages}) + "\n")
    return path


@pytest.fixture
def chat_data(tmp_path: Path) -> Path:
    return write_chat_rows(tmp_path / "data.jsonl")
