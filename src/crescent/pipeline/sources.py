"""Reading user JSONL files (benchmarks, exclusion lists) with errors that name file, line and field.

A command reads each input twice, to fingerprint it (``crescent.run_folder.file_sha256``) and to use it,
and a pipe (``--data <(...)``, a FIFO) can be read only once: ``open_input`` keeps the bytes of the first
read of such a file for the rest of the process, so the fingerprint and the rows come from the very same
input.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from crescent.errors import CrescentError

_PIPED: dict[str, bytes] = {}  # path -> bytes of an input that cannot be read a second time


def open_input(path: Path) -> BinaryIO:
    """``path`` opened for reading; a pipe's bytes are read once and replayed to every later reader."""
    key = str(path)
    if key in _PIPED:
        return io.BytesIO(_PIPED[key])
    handle = Path(path).open("rb")  # noqa: SIM115 (returned to the caller, who closes it)
    if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        return handle
    with handle:
        _PIPED[key] = handle.read()
    return io.BytesIO(_PIPED[key])


def read_jsonl(path: Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)``; a bad line stops with its file and line number."""
    path = Path(path)
    try:
        handle = open_input(path)  # bytes, decoded per line, so a bad byte is reported with its line
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
