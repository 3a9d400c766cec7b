"""Inputs that can be read only once (``--data <(...)``, a FIFO) are fingerprinted as they are used."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from crescent.eval.data import load_items
from crescent.pipeline.sources import read_questions
from crescent.run_folder import file_sha256

ROWS = [
    {"question": f"Ben has {a} coins and finds 4 more. How many now?", "answer": str(a + 4)} for a in range(5)
]


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_a_fifo_is_read_once_and_every_reader_gets_the_same_bytes(tmp_path: Path) -> None:
    """Old behaviour: the second open of the FIFO waited forever for a writer that had gone."""
    payload = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)

    def write_once() -> None:
        with fifo.open("wb") as handle:
            handle.write(payload)

    writer = threading.Thread(target=write_once, daemon=True)
    writer.start()
    seen: dict[str, object] = {}

    def read_twice() -> None:
        seen["items"] = len(load_items(fifo))
        seen["sha"] = file_sha256(fifo)
        seen["questions"] = len(read_questions(fifo))

    reader = threading.Thread(target=read_twice, daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "a second read of the FIFO blocked"
    assert seen == {"items": 5, "sha": hashlib.sha256(payload).hexdigest(), "questions": 5}


@pytest.mark.slow
def test_eval_of_a_process_substitution_fingerprints_what_it_scored(tmp_path: Path) -> None:
    """Old behaviour: the rows were read first, so the fingerprint hashed an empty pipe and a rerun on
    the same data was refused as a different config."""
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "run"
    crescent = f"{sys.executable} -m crescent eval --backend fake --quiet --out {out}"
    subprocess.run(
        ["bash", "-c", f"{crescent} --data <(cat {data})"],
        check=True,
        capture_output=True,
        timeout=120,
        env=_env(),
    )
    results = json.loads((out / "results.json").read_text())
    assert results["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest() and results["n"] == 5
    rerun = subprocess.run(
        ["bash", "-c", f"{crescent} --data {data}"], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert rerun.returncode == 0, rerun.stderr
