"""Reading user JSONL files (benchmarks, exclusion lists) with errors that name file, line and field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crescent.errors import CrescentError


def read_jsonl(path: Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)``; a bad line stops with its file and line number."""
    path = Path(path)
    try:
        handle = path.open("rb")  # bytes, decoded per line, so a bad byte is reported with its line
    except FileNotFoundError as exc:
        raise CrescentError(f"data file not found: {path}") from exc
    except OSError as exc:
        raise CrescentError(f"cannot read data file {path}: {exc.strerror}") from exc
    with handle:
        number = 0
        while True:
            try:
                raw = handle.readline()
            except OSError as exc:  # a directory, or a read error midway
                raise CrescentError(f"cannot read data file {path}: {exc.strerror}") from exc
            if not raw:
                return
            number += 1
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # tolerate a leading BOM
            except UnicodeDecodeError as exc:
                raise CrescentError(
                    f"{path}:{number}: not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1});"
                    " save the file as UTF-8"
                ) from exc
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CrescentError(
                    f"{path}:{number}: not valid JSON ({exc.msg}); fix or remove the line"
                ) from exc
            if not isinstance(row, dict):
                raise CrescentError(f"{path}:{number}: expected a JSON object per line")
            for field in required:
                value = row.get(field)
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise CrescentError(f"{path}:{number}: missing or empty field '{field}'")
            yield number, row


def read_questions(path: Path) -> list[str]:
    rows = [str(row["question"]) for _, row in read_jsonl(path, required=("question",))]
    if not rows:
        raise CrescentError(f"{path} holds no rows; pass a JSONL file with a 'question' field per line")
    return rows


def reference_solution(row: dict[str, Any]) -> str | None:
    """A row's worked solution: its ``solution`` field, or a GSM8K-original ``answer`` ("... #### 72")."""
    solution = row.get("solution")
    if isinstance(solution, str) and solution.strip():
        return solution
    answer = row.get("answer")
    return answer if isinstance(answer, str) and "####" in answer else None


def file_sha256(path: Path) -> str:
    """Content digest: a resumed run knows it reads the very same file, wherever it was moved."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise CrescentError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest()
