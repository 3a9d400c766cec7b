"""Idle machine, right after another run: does the default thread count run as fast as the best ``--threads``?

The default (``crescent.threads.default_threads``) counts the cores other processes use *now*. The policy it
replaced read the 1-minute load average, which still remembered a run that had just ended and halved the
next one (85 vs 111 tok/s on 2 cores). This case reproduces that moment: each measured run starts the
instant an earlier run on every core exits, and is timed with the default and with each explicit count.

    python benchmarks/threads_idle.py                               # embedded model
    python benchmarks/threads_idle.py --model qwen2.5-coder-0.5b --out benchmarks/results/threads_idle.json

Cases run in a rotated order, ``--repeats`` times, so a drift of the machine spreads over all of them. Each
figure is ``crescent eval``'s own ``tokens_per_s`` (completion tokens over its wall time); the thread count
the default picked is the backend's ``threads_start``. The target: the default within 5 % of the best
explicit count (``ratio_default_over_best`` >= 0.95). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 0.95
DATA = HERE / "data" / "gsm8k-test-32.jsonl"


def _eval(out: Path, args: argparse.Namespace, limit: int, threads: int | None) -> dict:
    """One ``crescent eval`` child; its results.json figures."""
    cmd = [sys.executable, "-m", "crescent", "eval", "--data", str(args.data), "--limit", str(limit),
           "--max-tokens", str(args.max_tokens), "--quiet", "--out", str(out)]  # fmt: skip
    if args.model:
        cmd += ["--model", args.model]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    path = str(HERE.parent / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"eval in {out} failed: {done.stderr.decode()[-500:]}")
    results = json.loads((out / "results.json").read_text())
    usage = results.get("backend_usage_this_session") or {}
    return {"tokens_per_s": results["tokens_per_s"], "threads": usage.get("threads_start", threads)}


def measure(args: argparse.Namespace) -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cases: list[int | None] = [None, *range(1, cores + 1)]  # None: the default
    runs: dict[str, list[dict]] = {_name(c): [] for c in cases}
    with tempfile.TemporaryDirectory(prefix="crescent-threads-idle-") as tmp:
        for repeat in range(args.repeats):
            shift = repeat % len(cases)
            for n, case in enumerate(cases[shift:] + cases[:shift]):
                # the earlier run, on every core; the measured run starts the moment it exits
                _eval(Path(tmp) / f"before-{repeat}-{n}", args, args.before_items, cores)
                runs[_name(case)].append(_eval(Path(tmp) / f"run-{repeat}-{n}", args, args.items, case))
    medians = {name: statistics.median(r["tokens_per_s"] for r in rs) for name, rs in runs.items()}
    best = max((name for name in medians if name != "default"), key=medians.__getitem__)
    ratio = round(medians["default"] / medians[best], 3)
    return {
        "ratio_default_over_best": ratio,
        "target": TARGET,
        "met": ratio >= TARGET,
        "best_explicit": best,
        "median_tok_s": {k: round(v, 2) for k, v in medians.items()},
        "default_threads_picked": [r["threads"] for r in runs["default"]],
        "runs": runs,
        "cores": cores,
        "model": args.model or "embedded SmolLM2-135M",
        "items": args.items,
        "max_tokens": args.max_tokens,
        "repeats": args.repeats,
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }


def _name(threads: int | None) -> str:
    return "default" if threads is None else f"threads_{threads}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="as crescent --model (default: the embedded model)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--items", type=int, default=32, help="eval items of each measured run")
    parser.add_argument("--before-items", type=int, default=16, help="eval items of the earlier run")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the report here (JSON)")
    args = parser.parse_args()
    text = json.dumps(measure(args), indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
