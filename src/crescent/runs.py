"""What kind of run a folder holds, for the commands that read finished runs (``report``, ``export``).

The run store says it itself (``meta.kind``, written when the store was created); folders without a
store (an ``improve`` run, or files copied elsewhere) are recognised by the file each command writes last.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from crescent.errors import CrescentError
from crescent.results.audit import AuditSummary
from crescent.results.base import ConfigEcho, SummaryFile, read_json
from crescent.results.eval import EvalResults
from crescent.results.generate import PAIRS_CONFIG, GenerateStats
from crescent.results.improve import Rounds
from crescent.store import STORE_NAME, read_meta

__all__ = ["KINDS", "RUN_KINDS", "ExportSpec", "RunKind", "read_json", "run_kind"]


@dataclass(frozen=True)
class ExportSpec:
    """How ``crescent export`` turns a kind of run into a dataset: its rows, their split, other configs
    (name -> file beside the rows) and the card's body (``module:function``, see ``publish/card.py``)."""

    rows: str
    split: str
    card_body: str
    extra: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # the card's Hub tags beyond synthetic, math, crescent


@dataclass(frozen=True)
class RunKind:
    """A kind of run folder that ``report`` and ``export`` read: its typed summary (whose ``FILE`` is
    written last, so its presence says the run finished), the module whose ``render(run_dir)`` draws its
    report, and how it exports (``None``: it has no rows to publish)."""

    name: str
    result: type[SummaryFile]
    report: str
    export: ExportSpec | None = None

    @property
    def summary_file(self) -> str:
        return self.result.FILE

    def render_report(self, run_dir: Path) -> str:
        return str(import_module(self.report).render(run_dir))


# In the order a folder holding several summaries is recognised (a store says its own kind first).
RUN_KINDS: dict[str, RunKind] = {
    kind.name: kind
    for kind in (
        RunKind(
            "generate",
            GenerateStats,
            "crescent.reports.generate",
            ExportSpec(
                GenerateStats.ROWS,
                "train",
                "crescent.publish.card:generate_body",
                {PAIRS_CONFIG: GenerateStats.PAIRS},
            ),
        ),
        RunKind(
            "eval",
            EvalResults,
            "crescent.reports.eval",
            ExportSpec(EvalResults.ROWS, "test", "crescent.publish.card:eval_body", tags=("evaluation",)),
        ),
        RunKind("audit", AuditSummary, "crescent.reports.audit"),
        RunKind("improve", Rounds, "crescent.reports.improve"),
    )
}
KINDS = tuple(RUN_KINDS)


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
    summary = RUN_KINDS[kind].result.from_dir(run_dir)
    sessions, wall_s = getattr(summary, "sessions", None), getattr(summary, "wall_s", None)
    if not (Path(run_dir) / STORE_NAME).is_file() or sessions is None or wall_s is None:
        return None
    from crescent.session import totals

    with read_store(run_dir) as db:
        wall, _, totals_sessions = totals(db)
    if (totals_sessions, round(wall, 2)) == (sessions, wall_s):
        return None
    return (
        f"{run_dir} holds work newer than its {RUN_KINDS[kind].summary_file}: the run is being extended, "
        f"or an extension was interrupted, so its rows are stale; finish the crescent {kind} command and "
        "export again"
    )


def run_kind(run_dir: Path) -> str:
    """``generate``, ``eval``, ``audit`` or ``improve``; a one-line error when the folder holds none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CrescentError(f"run folder not found: {run_dir}; pass the --out folder of a crescent run")
    kind = store_kind(run_dir)
    if kind not in KINDS:
        found = [k.name for k in RUN_KINDS.values() if k.result.exists_in(run_dir)]
        kind = found[0] if found else None
    if kind is None:
        raise CrescentError(
            f"{run_dir} holds no crescent run (no "
            f"{_either([STORE_NAME, *(k.summary_file for k in RUN_KINDS.values())])}); pass the --out "
            f"folder of {_either(KINDS)}"
        )
    if not RUN_KINDS[kind].result.exists_in(run_dir):
        raise CrescentError(
            f"{run_dir} holds an unfinished {kind} run (no {RUN_KINDS[kind].summary_file}); rerun the same "
            f"crescent {kind} command to finish it"
        )
    return kind


def _either(names: Any) -> str:
    """``a, b, c or d``."""
    names = list(names)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def model_label(config: ConfigEcho) -> str:
    """How a run's config names its model (``None`` is the embedded default, except for the test double)."""
    if config.backend == "fake":
        return "fake backend (test double, no model)"
    return str(config.model or "embedded SmolLM2-135M-Instruct (Q4_1 GGUF)")
