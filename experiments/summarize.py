"""Collect the effect experiments' figures into benchmarks/results/effect.json and copy their small outputs.

usage: python experiments/summarize.py RUNS_DIR   (the OUT of experiments/effect.sh, method.sh or distill.sh)

Entries whose runs are in RUNS_DIR are (re)computed; the others already in effect.json are kept.

Each experiment is a paired comparison on the same benchmark items (crescent.eval.compare): accuracy
before and after, the difference with a bootstrap 95% CI, and McNemar's p.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from crescent.eval.compare import compare_runs
from crescent.results.audit import AuditSummary
from crescent.results.eval import EvalResults
from crescent.results.generate import GenerateStats
from crescent.results.train import TrainStats

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = {
    "self_improvement": ("qwen-eval0", "qwen-eval1", "qwen-data", "qwen-sft"),
    "self_improvement_500": ("qwen-eval0", "qwen-eval1-500", ("qwen-data", "qwen-data-b"), "qwen-sft-500"),
    "distillation": ("student-eval0", "student-eval1", "qwen-data", "student-sft"),
    "ablation_plain_majority": (
        "student-eval0",
        "student-plain-eval1",
        "qwen-data-plain",
        "student-plain-sft",
    ),
    # issue #19 (experiments/method.sh): every arm from the same votes, on all 1,319 GSM8K test items
    "self_improvement_sft": ("qwen05-eval0", "arm-a-eval", "qwen05-data", "arm-a-train"),
    "self_improvement_dpo": ("qwen05-eval0", "arm-b-eval", "qwen05-data", "arm-b-train"),
    "format_control": ("qwen05-eval0", "arm-c-eval", "qwen05-data", "arm-c-train"),
    # issue #20 (experiments/distill.sh): teacher Qwen-1.5B, student Qwen-0.5B, equal training rows
    "distillation_crescent": (
        "qwen05-eval0",
        "distill-crescent-eval",
        "teacher-data-crescent",
        "distill-crescent-train",
    ),
    "distillation_seed": ("qwen05-eval0", "distill-seed-eval", "teacher-data-seed", "distill-seed-train"),
}
# Entry -> (HumanEval of the model before, after): general ability kept?
HUMANEVAL = {
    "self_improvement_sft": ("qwen05-humaneval0", "arm-a-humaneval"),
    "self_improvement_dpo": ("qwen05-humaneval0", "arm-b-humaneval"),
    "format_control": ("qwen05-humaneval0", "arm-c-humaneval"),
    "distillation_crescent": ("qwen05-humaneval0", "distill-crescent-humaneval"),
    "distillation_seed": ("qwen05-humaneval0", "distill-seed-humaneval"),
}
# Head-to-head comparisons on the same items: name -> (A, B), reported as B - A. The export control is the
# base model passed through train's export path with zero training steps (crescent merge without an
# adapter): re-quantisation alone; every arm is also held against it.
HEAD_TO_HEAD = {
    "export_control": ("qwen05-eval0", "qwen05-export0-eval"),
    "export_control_humaneval": ("qwen05-humaneval0", "qwen05-export0-humaneval"),
    "sft_vs_export_control": ("qwen05-export0-eval", "arm-a-eval"),
    "dpo_vs_export_control": ("qwen05-export0-eval", "arm-b-eval"),
    "format_control_vs_export_control": ("qwen05-export0-eval", "arm-c-eval"),
    "distillation_crescent_vs_export_control": ("qwen05-export0-eval", "distill-crescent-eval"),
    "distillation_seed_vs_export_control": ("qwen05-export0-eval", "distill-seed-eval"),
    "sft_vs_format_control": ("arm-c-eval", "arm-a-eval"),
    "dpo_vs_format_control": ("arm-c-eval", "arm-b-eval"),
    "dpo_vs_sft": ("arm-a-eval", "arm-b-eval"),
    "distillation_crescent_vs_seed": ("distill-seed-eval", "distill-crescent-eval"),
    # the teacher's rows against #19's format control (the student's own unvoted answers, same recipe): is the
    # gain the teacher's answers, or only SFT on a math format?
    "distillation_crescent_vs_format_control": ("arm-c-eval", "distill-crescent-eval"),
    "distillation_seed_vs_format_control": ("arm-c-eval", "distill-seed-eval"),
    "teacher_vs_student": ("qwen05-eval0", "teacher-eval0"),  # on the teacher's 200 items: the gap to distil
}
# Written by experiments/common.sh `rescore` into a rescored audit: the run whose votes it scored again.
RESCORED_FROM = "rescored_from"
KEPT_FILES = (
    "results.json",
    "predictions.jsonl",
    "data.jsonl",
    "pairs.jsonl",
    "stats.json",
    "train_stats.json",
    "audit.json",
    RESCORED_FROM,
)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def _entry(runs: Path, before: str, after: str, data: str | tuple[str, ...], train: str) -> dict | None:
    if not (runs / after / "predictions.jsonl").exists():
        return None
    paired = compare_runs(runs / before, runs / after)
    parts = [GenerateStats.from_dir(runs / d) for d in ((data,) if isinstance(data, str) else data)]
    dropped: dict[str, int] = {}
    for part in parts:  # several generate runs whose rows were trained on together: their counts add up
        for reason, count in part.vote.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    entry = {
        "before": paired["accuracy_a"],
        "after": paired["accuracy_b"],
        "diff": paired["difference"],
        "ci95": paired["difference_ci95"],
        "mcnemar_p": paired["mcnemar_p"],
        "n": paired["n"],
        "before_ci95": paired["ci95_a"],
        "after_ci95": paired["ci95_b"],
        "train_rows": sum(p.export.rows for p in parts),
        "questions": sum(p.bait.accepted for p in parts),
        "label_policy": parts[0].vote.label_policy,
        "dropped": dropped if len(parts) == 1 else dict(sorted(dropped.items())),
        "by_depth": _depths(paired),
    }
    if TrainStats.exists_in(runs / train):
        t = TrainStats.from_dir(runs / train)
        # What the model trained on, not what the data run wrote: DPO reads the pairs, and a distillation arm
        # the first rows of its data (equal rows across arms).
        entry["train_rows"] = t.rows if t.rows is not None else entry["train_rows"]
        entry["train"] = {
            "steps": t.steps,
            "final_loss": t.final_loss,
            "train_time_s": t.train_time_s,
            "tokens_per_s": t.tokens_per_s,
        }
    return entry


def _depths(paired: dict) -> list[dict] | None:
    """The paired figures per reasoning depth; None where no item has a depth (HumanEval's code problems
    state no arithmetic steps)."""
    by_depth = paired.get("by_depth") or []
    return by_depth if any(d["depth"] != "unknown" for d in by_depth) else None


def _eval_dir(runs: Path, name: str) -> Path | None:
    """An eval's folder: in RUNS, or else its committed copy, so one experiment script can be paired with
    another's finished runs (#20's student against #19's format control) without copying folders about."""
    for folder in (runs / name, ROOT / "experiments" / "results" / name):
        if (folder / "predictions.jsonl").exists():
            return folder
    return None


def _paired(runs: Path, a: str, b: str) -> dict | None:
    dir_a, dir_b = _eval_dir(runs, a), _eval_dir(runs, b)
    if dir_a is None or dir_b is None:
        return None
    paired = compare_runs(dir_a, dir_b)
    return {
        "a": a,
        "b": b,
        "accuracy_a": paired["accuracy_a"],
        "accuracy_b": paired["accuracy_b"],
        "diff": paired["difference"],
        "ci95": paired["difference_ci95"],
        "mcnemar_p": paired["mcnemar_p"],
        "n": paired["n"],
        "by_depth": _depths(paired),
    }


# Each kind of run's summary and the field holding its wall time (all sessions of a resumed run).
WALL_TIME = ((GenerateStats, "wall_s"), (EvalResults, "wall_s"), (AuditSummary, "wall_s"),
             (TrainStats, "train_time_s"))  # fmt: skip


def _wall_s(run: Path) -> float:
    """A run's own wall time; for a folder of runs (bait-measure's store per prompt), theirs summed."""
    for kind, field in WALL_TIME:
        if kind.exists_in(run):
            return getattr(kind.from_dir(run), field, None) or 0.0
    return sum(_wall_s(sub) for sub in run.iterdir() if sub.is_dir())


def compute_hours(runs: Path) -> dict[str, float]:
    """Where the machine's hours went: each finished run's own wall time (on 2 shared cores, wall time is
    what the experiment cost). Model loading, GGUF export and merges are left out."""
    walls = {run.name: _wall_s(run) for run in sorted(runs.iterdir()) if run.is_dir()}
    for name in list(walls):
        if (runs / name / RESCORED_FROM).exists():  # a copy of SOURCE's store: its wall time has SOURCE's
            source = (runs / name / RESCORED_FROM).read_text().strip()
            walls[name] = max(0.0, walls[name] - walls.get(source, 0.0))
    return {name: round(wall / 3600, 2) for name, wall in walls.items() if wall}


def main(runs: Path) -> None:
    target = ROOT / "benchmarks" / "results" / "effect.json"
    effect = json.loads(target.read_text()) if target.exists() else {}
    for name, dirs in EXPERIMENTS.items():
        entry = _entry(runs, *dirs)
        if entry is not None:
            effect[name] = entry
            if name in HUMANEVAL and (paired := _paired(runs, *HUMANEVAL[name])) is not None:
                entry["humaneval"] = {"before": paired["accuracy_a"], "after": paired["accuracy_b"], **paired}
    for name, (a, b) in HEAD_TO_HEAD.items():
        if (paired := _paired(runs, a, b)) is not None:
            effect[name] = paired
    if (runs / "student-plain-eval1" / "predictions.jsonl").exists() and "distillation" in effect:
        # (c): the same votes labelled two ways, each trained into the same student; paired on the items
        paired = compare_runs(runs / "student-plain-eval1", runs / "student-eval1")
        effect["ablation"] = {
            "before": paired["accuracy_a"],  # plain majority vote (the paper's rule)
            "after": paired["accuracy_b"],  # crescent's label filters
            "diff": paired["difference"],
            "ci95": paired["difference_ci95"],
            "mcnemar_p": paired["mcnemar_p"],
            "n": paired["n"],
            "rows_plain": effect["ablation_plain_majority"]["train_rows"],
            "rows_filtered": effect["distillation"]["train_rows"],
        }
    hours = {**effect.get("compute_hours", {}), **compute_hours(runs)}
    effect["compute_hours"] = dict(sorted(hours.items(), key=lambda item: -item[1]))  # largest first
    target.write_text(json.dumps(effect, indent=2) + "\n")
    kept = ROOT / "experiments" / "results"
    for run in sorted(p for p in runs.iterdir() if p.is_dir()):
        for name in KEPT_FILES:
            if (run / name).exists():
                (kept / run.name).mkdir(parents=True, exist_ok=True)
                shutil.copy2(run / name, kept / run.name / name)
        if (run / "adapter" / "adapter_config.json").exists():
            # the LoRA adapter (bfloat16, 17 MB at r = 16 on Qwen-0.5B): with the base model,
            # `crescent merge` rebuilds the evaluated GGUF. Only the files merge reads: peft's README.md
            # beside them is a blank model-card template naming a local cache folder as the base model.
            (kept / run.name / "adapter").mkdir(parents=True, exist_ok=True)
            for name in ADAPTER_FILES:
                shutil.copy2(run / "adapter" / name, kept / run.name / "adapter" / name)
    print(json.dumps(effect, indent=2))
    for name, e in effect.items():
        if isinstance(e, dict) and {"before", "after", "diff", "ci95", "n"} <= e.keys():
            low, high = e["ci95"]
            print(
                f"| {name} | {e['before']:.1%} | {e['after']:.1%} | {e['diff'] * 100:+.1f} pt "
                f"[{low * 100:+.1f}, {high * 100:+.1f}] | {e.get('mcnemar_p', float('nan')):.2g} | {e['n']} |"
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
