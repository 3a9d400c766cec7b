"""``crescent eval compare``: is run B really better than run A on the items both scored?

Two accuracies with overlapping confidence intervals can still differ significantly, because both runs
answered the same questions: most items are right (or wrong) in both. Only the paired view (per-item
differences, discordant pairs) measures the change itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from crescent.config import CompareConfig
from crescent.errors import CrescentError
from crescent.eval.by_depth import paired_by_depth, worse_buckets
from crescent.eval.stats import paired_difference
from crescent.owned_files import check_replaceable
from crescent.pipeline.sources import read_jsonl
from crescent.results.compare import Comparison, DepthDifference
from crescent.results.eval import EvalResults

PREDICTIONS = EvalResults.ROWS
KIND = "crescent eval compare"
"""The first key of every comparison: ``--out`` replaces only a file that starts with it."""
SIGNATURE = f'"kind": "{KIND}"'


class Prediction(NamedTuple):
    correct: bool
    question: str | None
    depth: int | None  # calculation steps of the item's reference solution (None: it has none)
    has_depth: bool  # False for a row written before evals recorded depth (see `eval rescore`)


def load_predictions(directory: Path) -> dict[str, Prediction]:
    """``id -> Prediction`` from an eval directory's ``predictions.jsonl``."""
    path = Path(directory) / PREDICTIONS
    if not path.is_file():
        raise CrescentError(f"{directory} holds no {PREDICTIONS}; pass a directory 'crescent eval' wrote")
    scores: dict[str, Prediction] = {}
    for number, row in read_jsonl(path, required=("id",)):
        correct = row.get("correct")
        if not isinstance(correct, bool):
            raise CrescentError(f"{path}:{number}: field 'correct' must be true or false")
        item_id = str(row["id"])
        if item_id in scores:
            raise CrescentError(f"{path}:{number}: duplicate id '{item_id}'; rerun the eval into a new --out")
        question = row.get("question")
        depth = row.get("depth")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
            raise CrescentError(f"{path}:{number}: field 'depth' must be a whole number >= 0 or null")
        question = question if isinstance(question, str) else None
        scores[item_id] = Prediction(correct, question, depth, "depth" in row)
    return scores


def compare_runs(dir_a: Path, dir_b: Path, *, resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two evals on their shared items: accuracies, B − A with a CI, McNemar's p;
    the same figures per reasoning-depth bucket when the predictions record depth."""
    a, b = load_predictions(dir_a), load_predictions(dir_b)
    shared = [item_id for item_id in a if item_id in b]
    if not shared:
        raise CrescentError(
            f"{dir_a} and {dir_b} share no item ids; compare two evals of the same benchmark file"
        )
    for item_id in shared:
        qa, qb = a[item_id].question, b[item_id].question
        if qa is not None and qb is not None and " ".join(qa.split()) != " ".join(qb.split()):
            raise CrescentError(
                f"item '{item_id}' has different questions in {dir_a} and {dir_b}; "
                "compare two evals of the same benchmark file"
            )
    xa = np.array([a[i].correct for i in shared], dtype=bool)
    xb = np.array([b[i].correct for i in shared], dtype=bool)
    report: dict[str, Any] = {
        "kind": KIND,
        "a": str(dir_a),
        "b": str(dir_b),
        "only_in_a": len(a) - len(shared),
        "only_in_b": len(b) - len(shared),
        **paired_difference(xa, xb, resamples=resamples, seed=seed),
    }
    depths = _shared_depths(a, b, shared)
    if depths is None:
        report["by_depth"] = report["worse_depths"] = None
    else:
        report["by_depth"] = paired_by_depth(xa, xb, depths, resamples=resamples, seed=seed)
        report["worse_depths"] = worse_buckets(report["by_depth"])
    report["bootstrap"] = {"resamples": resamples, "seed": seed}
    return report


def _shared_depths(
    a: dict[str, Prediction], b: dict[str, Prediction], shared: list[str]
) -> list[int | None] | None:
    """Each shared item's depth, from A or else B (both come from the benchmark file, by item id);
    None when neither run recorded it for some item, e.g. an eval written before depth existed."""
    depths = []
    for item_id in shared:
        known = next((p for p in (a[item_id], b[item_id]) if p.has_depth), None)
        if known is None:
            return None
        depths.append(known.depth)
    return depths


@dataclass
class CompareResult:
    report: Comparison

    def stdout(self) -> str:
        return json.dumps(self.report.as_json(), ensure_ascii=False)

    def describe(self) -> str:
        r = self.report
        lines = [f"paired comparison on {r.n} shared items"]
        for label, accuracy, ci95, only, folder in (
            ("A", r.accuracy_a, r.ci95_a, r.a_only_correct, r.a),
            ("B", r.accuracy_b, r.ci95_b, r.b_only_correct, r.b),
        ):
            low, high = ci95 or (0.0, 0.0)
            lines.append(
                f"  {label}: {accuracy or 0.0:.1%} [{low:.1%}, {high:.1%}], "
                f"{only} correct only here ({folder})"
            )
        low, high = r.difference_ci95
        lines.append(
            f"  B − A: {r.difference:+.1%} [{low:+.1%}, {high:+.1%}], McNemar exact p = {r.mcnemar_p:.4g}"
        )
        if r.only_in_a or r.only_in_b:
            lines.append(f"  note: left out {r.only_in_a} items only in A and {r.only_in_b} only in B")
        lines += _depth_lines(r.by_depth)
        return "\n".join(lines)


def _depth_lines(rows: list[DepthDifference] | None) -> list[str]:
    """The per-depth table: benchmark items per bucket (its depth profile) and B − A in each."""
    if rows is None:
        return ["  by depth: not recorded in these predictions; run 'crescent eval rescore DIR --data FILE'"]
    lines = ["  by depth (calculation steps of the reference solution):"]
    for row in rows:
        low, high = row.difference_ci95 or (0.0, 0.0)
        flag = "  <- worse: CI wholly below 0" if row.worse else ""
        lines.append(
            f"    {row.depth:>7}: n {row.n:>4}, "
            f"A {row.accuracy_a or 0.0:6.1%}, B {row.accuracy_b or 0.0:6.1%}, "
            f"B − A {row.difference or 0.0:+.1%} [{low:+.1%}, {high:+.1%}], "
            f"p = {row.mcnemar_p or 0.0:.3g}{flag}"
        )
    return lines


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
    return CompareResult(Comparison.model_validate(report))
