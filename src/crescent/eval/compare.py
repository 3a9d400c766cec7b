"""``crescent eval compare``: is run B really better than run A on the items both scored?

Two accuracies with overlapping confidence intervals can still differ significantly, because both runs
answered the same questions: most items are right (or wrong) in both. Only the paired view (per-item
differences, discordant pairs) measures the change itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crescent.config import CompareConfig
from crescent.errors import CrescentError
from crescent.eval.stats import discordant, mcnemar_exact, paired_bootstrap_ci, wilson_interval
from crescent.owned_files import check_replaceable
from crescent.pipeline.sources import read_jsonl

PREDICTIONS = "predictions.jsonl"
KIND = "crescent eval compare"
"""The first key of every comparison: ``--out`` replaces only a file that starts with it."""
SIGNATURE = f'"kind": "{KIND}"'


def load_predictions(directory: Path) -> dict[str, tuple[bool, str | None]]:
    """``id -> (correct, question)`` from an eval directory's ``predictions.jsonl``."""
    path = Path(directory) / PREDICTIONS
    if not path.is_file():
        raise CrescentError(f"{directory} holds no {PREDICTIONS}; pass a directory 'crescent eval' wrote")
    scores: dict[str, tuple[bool, str | None]] = {}
    for number, row in read_jsonl(path, required=("id",)):
        correct = row.get("correct")
        if not isinstance(correct, bool):
            raise CrescentError(f"{path}:{number}: field 'correct' must be true or false")
        item_id = str(row["id"])
        if item_id in scores:
            raise CrescentError(f"{path}:{number}: duplicate id '{item_id}'; rerun the eval into a new --out")
        question = row.get("question")
        scores[item_id] = (correct, question if isinstance(question, str) else None)
    return scores


def compare_runs(dir_a: Path, dir_b: Path, *, resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two evals on their shared items: accuracies, B − A with a CI, McNemar's p."""
    a, b = load_predictions(dir_a), load_predictions(dir_b)
    shared = [item_id for item_id in a if item_id in b]
    if not shared:
        raise CrescentError(
            f"{dir_a} and {dir_b} share no item ids; compare two evals of the same benchmark file"
        )
    for item_id in shared:
        qa, qb = a[item_id][1], b[item_id][1]
        if qa is not None and qb is not None and " ".join(qa.split()) != " ".join(qb.split()):
            raise CrescentError(
                f"item '{item_id}' has different questions in {dir_a} and {dir_b}; "
                "compare two evals of the same benchmark file"
            )
    xa = np.array([a[i][0] for i in shared], dtype=bool)
    xb = np.array([b[i][0] for i in shared], dtype=bool)
    n = len(shared)
    diff, low, high = paired_bootstrap_ci(xa, xb, resamples=resamples, seed=seed)
    a_only, b_only = discordant(xa, xb)
    return {
        "kind": KIND,
        "a": str(dir_a),
        "b": str(dir_b),
        "n": n,
        "only_in_a": len(a) - n,
        "only_in_b": len(b) - n,
        "accuracy_a": round(float(xa.mean()), 4),
        "accuracy_b": round(float(xb.mean()), 4),
        "ci95_a": [round(x, 4) for x in wilson_interval(int(xa.sum()), n)],
        "ci95_b": [round(x, 4) for x in wilson_interval(int(xb.sum()), n)],
        "difference": round(diff, 4),
        "difference_ci95": [round(low, 4), round(high, 4)],
        "a_only_correct": a_only,
        "b_only_correct": b_only,
        "mcnemar_p": round(mcnemar_exact(xa, xb), 6),
        "bootstrap": {"resamples": resamples, "seed": seed},
    }


@dataclass
class CompareResult:
    report: dict[str, Any]

    def stdout(self) -> str:
        return json.dumps(self.report, ensure_ascii=False)

    def describe(self) -> str:
        r = self.report
        lines = [f"paired comparison on {r['n']} shared items"]
        for key, label, only in (("a", "A", "a_only_correct"), ("b", "B", "b_only_correct")):
            low, high = r[f"ci95_{key}"]
            lines.append(
                f"  {label}: {r[f'accuracy_{key}']:.1%} [{low:.1%}, {high:.1%}], "
                f"{r[only]} correct only here ({r[key]})"
            )
        low, high = r["difference_ci95"]
        lines.append(
            f"  B − A: {r['difference']:+.1%} [{low:+.1%}, {high:+.1%}], "
            f"McNemar exact p = {r['mcnemar_p']:.4g}"
        )
        if r["only_in_a"] or r["only_in_b"]:
            lines.append(f"  note: left out {r['only_in_a']} items only in A and {r['only_in_b']} only in B")
        return "\n".join(lines)


def compare(config: CompareConfig) -> CompareResult:
    """``compare_runs`` on the config's folders; the report is also written to ``config.out`` if set."""
    report = compare_runs(config.baseline, config.candidate, resamples=config.resamples, seed=config.seed)
    if config.out is not None:
        check_replaceable(config.out, SIGNATURE, "--out", "comparison")
        try:
            config.out.parent.mkdir(parents=True, exist_ok=True)
            config.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CrescentError(
                f"cannot write --out {config.out}: {exc.strerror}; choose a writable path"
            ) from exc
    return CompareResult(report)
