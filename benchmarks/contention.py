"""Two ``crescent generate`` runs at once vs one alone: does the default thread policy share a machine?

Before the policy (busy-waiting OpenMP workers, one thread per core), a second run on the same cores made
both collapse to a small fraction of their solo speed. With passive waiting and threads chosen from the
cores free at start (``crescent.threads``), each of two concurrent runs should keep at least
``TARGET`` of its solo tokens/s (two runs splitting the cores evenly would each get 0.5).

    python benchmarks/contention.py                  # default model, default (policy-chosen) threads
    python benchmarks/contention.py --questions 8 --out benchmarks/results/contention.json

Each run is a fresh ``crescent generate`` process on its own ``--out``; tok/s is the run's own
``stats.json`` figure (completion tokens over its wall time). Run it on an otherwise idle machine:
the point is the ratio between the solo run and the two concurrent ones, measured back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crescent.results.generate import GenerateStats

TARGET = 0.45  # each concurrent run's tok/s over the solo run's


def _generate(out: Path, questions: int, votes: int, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "crescent", "generate", "--questions", str(questions), "--votes", str(votes),
           "--quiet", "--out", str(out), *extra]  # fmt: skip
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _finish(proc: subprocess.Popen[bytes], out: Path) -> dict[str, float]:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"generate in {out} failed: {err.decode()[-500:]}")
    stats = GenerateStats.from_dir(out)
    return {"tokens_per_s": stats.tokens_per_s, "wall_s": stats.wall_s, "tokens": stats.tokens_generated}


def measure(questions: int, votes: int, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="crescent-contention-") as tmp:
        root = Path(tmp)
        solo = _finish(_generate(root / "solo", questions, votes, extra), root / "solo")
        procs = {name: _generate(root / name, questions, votes, extra) for name in ("a", "b")}
        pair = {name: _finish(proc, root / name) for name, proc in procs.items()}
    ratios = {name: round(r["tokens_per_s"] / solo["tokens_per_s"], 3) for name, r in pair.items()}
    return {
        "solo": solo,
        "concurrent": pair,
        "ratio_vs_solo": ratios,
        "target": TARGET,
        "met": all(r >= TARGET for r in ratios.values()),
        "cores": os.cpu_count(),
        "load_after": os.getloadavg()[0],  # 1-minute average once all three runs are done
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "extra_args": extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--votes", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the report here (JSON)")
    parser.add_argument("extra", nargs="*", help="more generate options after --, e.g. -- --threads 2")
    args = parser.parse_args()
    report = measure(args.questions, args.votes, args.extra)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
