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


PAIRS = [  # (question, chosen, rejected, weight): a toy preference set in generate's pairs.jsonl format
    ("What is 2 plus 3?", "2 plus 3 is 5. The answer is 5.", "2 plus 3 is 6. The answer is 6.", 1.0),
    ("What is 4 plus 4?", "4 plus 4 is 8. The answer is 8.", "4 plus 4 is 9. The answer is 9.", 0.6),
    ("What is 6 minus 1?", "6 minus 1 is 5. The answer is 5.", "6 minus 1 is 7. The answer is 7.", 0.2),
    ("What is 3 times 3?", "3 times 3 is 9. The answer is 9.", "3 times 3 is 6. The answer is 6.", 1.0),
]


def write_pairs(path: Path, pairs: list[tuple[str, str, str, float]] = PAIRS) -> Path:
    with path.open("w") as handle:
        for question, chosen, rejected, weight in pairs:
            row = {
                "id": question,
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "weight": weight,
                "question": question,  # generate's rows carry more keys; training ignores them
                "rejected_from": "votes",
            }
            handle.write(json.dumps(row) + "\n")
    return path


@pytest.fixture
def pairs_data(tmp_path: Path) -> Path:
    return write_pairs(tmp_path / "pairs.jsonl")
