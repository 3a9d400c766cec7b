"""``crescent eval rescore``: bring an existing eval folder up to date without sampling again.

An eval's outputs are the expensive part (minutes to hours of decoding); what later versions report
about them (here, each item's reasoning depth and accuracy by depth) is a function of the predictions
and the benchmark file. Rescoring reads both, checks they belong together, and writes the fields a new
eval would write, through the very functions ``eval`` uses, so an old folder and a new one agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crescent.config import RescoreConfig
from crescent.errors import CrescentError
from crescent.eval.by_depth import accuracy_by_depth, describe_by_depth
from crescent.eval.data import load_items
from crescent.pipeline.sources import read_jsonl
from crescent.results.eval import EvalResults
from crescent.run_folder import file_sha256
from crescent.store import write_atomic

PREDICTIONS = EvalResults.ROWS


@dataclass
class RescoreResult:
    results_path: Path
    results: EvalResults

    def stdout(self) -> str:
        return str(self.results_path)

    def describe(self) -> str:
        depth = describe_by_depth(self.results.by_depth or [])
        return f"rescored {self.results.n} items" + (f"; {depth}" if depth else "; no item has a depth")


def rescore(config: RescoreConfig) -> RescoreResult:
    """Add ``depth`` to every prediction and ``by_depth`` to results.json (both rewritten atomically)."""
    results_path, predictions_path = EvalResults.path(config.run_dir), config.run_dir / PREDICTIONS
    for path in (results_path, predictions_path):
        if not path.is_file():
            raise CrescentError(f"{config.run_dir} holds no {path.name}; pass a folder 'crescent eval' wrote")
    results = EvalResults.from_dir(config.run_dir)
    recorded = results.data_sha256
    if recorded is not None and recorded != file_sha256(config.data):
        raise CrescentError(
            f"--data {config.data} is not the file {config.run_dir} was scored on (its sha256 differs from "
            f"{results.FILE}'s data_sha256); pass that benchmark file"
        )
    items = {item.id: item for item in load_items(config.data)}
    rows = []
    for number, row in read_jsonl(predictions_path, required=("id", "question", "correct")):
        item = items.get(str(row["id"]))
        if item is None or " ".join(str(row["question"]).split()) != " ".join(item.question.split()):
            raise CrescentError(
                f"{predictions_path}:{number}: item '{row['id']}' is not in --data {config.data} with this "
                "question; pass the benchmark file the eval scored"
            )
        rows.append(_placed(row, "depth", item.depth, after="gold"))
    correct = [bool(row["correct"]) for row in rows]
    if len(rows) != results.n or sum(correct) != results.correct:
        raise CrescentError(
            f"{predictions_path} holds {sum(correct)}/{len(rows)} correct but {results_path} says "
            f"{results.correct}/{results.n}; the folder was edited, rerun the eval"
        )
    by_depth = accuracy_by_depth(correct, [row["depth"] for row in rows])
    results = EvalResults.from_json(_placed(results.as_json(), "by_depth", by_depth, after="ci95"))
    write_atomic(predictions_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    results.to_dir(config.run_dir)
    return RescoreResult(results_path, results)


def _placed(record: dict[str, Any], key: str, value: Any, after: str) -> dict[str, Any]:
    """``record`` with ``key`` set to ``value`` right after ``after``, where a new eval writes it (an older
    value is replaced, not kept in its old place), so a rescored file reads like a fresh one."""
    out: dict[str, Any] = {}
    for name, old in record.items():
        if name != key:
            out[name] = old
        if name == after:
            out[key] = value
    out.setdefault(key, value)
    return out
