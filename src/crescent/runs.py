"""What kind of run a folder holds, for the commands that read finished runs (``report``, ``export``).

The run store says it itself (``meta.kind``, written when the store was created); folders without a
store (an ``improve`` run, or files copied elsewhere) are recognised by the file each command writes last.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from crescent.errors import CrescentError
from crescent.store import STORE_NAME, read_meta

KINDS = ("generate", "eval", "audit", "improve")
# The summary file each kind writes when it finishes: its presence says the run can be read.
SUMMARY_FILES = {
    "generate": "stats.json",
    "eval": "results.json",
    "audit": "audit.json",
    "improve": "rounds.json",
}


def path_in_run(path: Path | str, run_dir: Path | str) -> str:
    """``path`` as a run's summary records it: relative to the run folder (``data.jsonl``,
    ``../seed.jsonl``), so a committed result names no machine's directories and still resolves from the
    folder it sits in."""
    return Path(os.path.relpath(Path(path).absolute(), Path(run_dir).absolute())).as_posix()


@contextmanager
def read_store(run_dir: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the run store (never creates or migrates anything); a damaged store is
    a one-line error, since everything ``report`` and ``export`` say comes from it."""
    path = Path(run_dir) / STORE_NAME
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            yield db
    except sqlite3.DatabaseError as exc:
        raise CrescentError(
            f"{path} is damaged ({exc}); the run cannot be read: restore the folder from a copy, or rerun "
            "the command with a new --out"
        ) from exc


def store_kind(run_dir: Path) -> str | None:
    """``meta.kind`` of the run store; ``None`` for a folder without one."""
    if not (Path(run_dir) / STORE_NAME).is_file():
        return None
    with read_store(run_dir) as db:
        return read_meta(db, "kind")


def newer_work(run_dir: Path, kind: str) -> str | None:
    """Why the run's row file may be stale, or ``None``: the store holds work committed after the summary
    (stats.json, results.json) was written, as by an extension (a bigger ``--questions``) still running
    or interrupted. The summary records the store's session totals when it was written; they only grow."""
    summary = read_json(Path(run_dir) / SUMMARY_FILES[kind])
    if not (Path(run_dir) / STORE_NAME).is_file() or "sessions" not in summary or "wall_s" not in summary:
        return None
    from crescent.session import totals

    with read_store(run_dir) as db:
        wall, _, sessions = totals(db)
    if (sessions, round(wall, 2)) == (summary["sessions"], summary["wall_s"]):
        return None
    return (
        f"{run_dir} holds work newer than its {SUMMARY_FILES[kind]}: the run is being extended, or an "
        f"extension was interrupted, so its rows are stale; finish the crescent {kind} command and "
        "export again"
    )


def run_kind(run_dir: Path) -> str:
    """``generate``, ``eval``, ``audit`` or ``improve``; a one-line error when the folder holds none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CrescentError(f"run folder not found: {run_dir}; pass the --out folder of a crescent run")
    kind = store_kind(run_dir)
    if kind not in KINDS:
        found = [k for k in KINDS if (run_dir / SUMMARY_FILES[k]).is_file()]
        kind = found[0] if found else None
    if kind is None:
        raise CrescentError(
            f"{run_dir} holds no crescent run (no {STORE_NAME}, stats.json, results.json, audit.json or "
            "rounds.json); pass the --out folder of generate, eval, audit or improve"
        )
    if not (run_dir / SUMMARY_FILES[kind]).is_file():
        raise CrescentError(
            f"{run_dir} holds an unfinished {kind} run (no {SUMMARY_FILES[kind]}); rerun the same "
            f"crescent {kind} command to finish it"
        )
    return kind


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise CrescentError(f"{path} not found; is this the folder of a finished run?") from exc
    except json.JSONDecodeError as exc:
        raise CrescentError(f"{path} is not valid JSON (line {exc.lineno}); rerun the command") from exc


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError as exc:
        raise CrescentError(f"{path} not found; is this the folder of a finished run?") from exc
    rows = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CrescentError(f"{path} line {number} is not valid JSON; rerun the command") from exc
    return rows


def model_label(config: dict[str, Any]) -> str:
    """How a run's config names its model (``None`` is the embedded default, except for the test double)."""
    if config.get("backend") == "fake":
        return "fake backend (test double, no model)"
    return str(config.get("model") or "embedded SmolLM2-135M-Instruct (Q4_1 GGUF)")


def questions_source(stats: dict[str, Any]) -> str:
    """Where a generate run's questions came from, in one line (the card and the report say it).

    Runs written before sources existed hold no ``source``: they all came from bait.
    """
    source = stats.get("source") or {"kind": "bait"}
    accepted = stats["bait"]["accepted"]
    if source["kind"] == "file":
        whole = f", the whole file of {source['file_rows']} rows" if source.get("whole_file") else ""
        # The file's name: the recorded path is relative to the run folder, which a card or report is not in.
        return f"questions: {accepted} from {Path(source['path']).name}{whole} (seed augmentation)"
    return f"questions: {accepted} from bait (written by the model itself, self-deduplicated)"


def from_file(stats: dict[str, Any]) -> bool:
    return (stats.get("source") or {}).get("kind") == "file"
