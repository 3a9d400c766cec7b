"""Every benchmark side by side in one run; prints a JSON summary and writes results/latest.json.

    .venv/bin/python benchmarks/run_all.py [--threads N] [--questions Q]

Throughput on a shared machine swings with other people's load, so the raw reference is measured
before and after the pipeline and averaged, and the ratios (not the absolute tok/s) are the figures
to compare across runs. CPU seconds are reported next to wall seconds for the same reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dedup
import throughput

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
TARGETS = {
    "ratio_vs_raw": (">=", 0.9),
    "ratio_vs_naive_hf": (">=", 5.0),
    "vote_prefill_over_prompt": ("<=", 1.1),
    "dedup_1m_s": ("<", 60.0),
    "dedup_recall_at_1": (">=", 0.99),
    "peak_rss_mb": ("<", 2000.0),
}


def _timed(label: str, fn, *args):
    print(f"[{time.strftime('%H:%M:%S')}] {label} ...", file=sys.stderr, flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    result["cpu_s_this_process"] = round(time.process_time() - cpu, 2)
    result["bench_wall_s"] = round(time.perf_counter() - wall, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every engine")
    parser.add_argument("--questions", type=int, default=24, help="questions the pipeline run generates")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started, load_before = time.time(), os.getloadavg()

    raw_before = _timed("raw llama.cpp batched decode", throughput.raw_batched_tok_s, args.threads)
    pipeline = _timed(
        "crescent generate (child process)", throughput.pipeline_generate, args.threads, args.questions
    )
    hf = _timed("naive transformers generate", throughput.naive_hf_tok_s, args.threads)
    raw_after = _timed("raw llama.cpp batched decode again", throughput.raw_batched_tok_s, args.threads)
    index = _timed("dedup index at 10^6", dedup.run, 1_000_000, 10_000, 500, args.threads)

    raw = (raw_before["tok_s"] + raw_after["tok_s"]) / 2
    summary = {
        "raw_batched_tok_s": round(raw, 2),
        "pipeline_generate_tok_s": pipeline["tok_s"],
        "naive_hf_tok_s": hf["tok_s"],
        "ratio_vs_raw": round(pipeline["tok_s"] / raw, 3),
        "ratio_vs_naive_hf": round(pipeline["tok_s"] / hf["tok_s"], 3),
        "vote_prefill_tokens_per_question": pipeline["vote_prefill_tokens_per_question"],
        "vote_prompt_tokens_per_question": pipeline["vote_prompt_tokens_per_question"],
        "vote_prefill_over_prompt": round(
            pipeline["vote_prefill_tokens_per_question"]
            / max(pipeline["vote_prompt_tokens_per_question"], 1),
            3,
        ),
        "pipeline_engine_tokens_per_completion_token": pipeline["engine_tokens_per_completion_token"],
        "pipeline_slot_occupancy": pipeline["usage"].get("slot_occupancy"),
        "peak_rss_mb": pipeline["peak_rss_mb"],
        "dedup_1m_s": index["dedup_1m_s"],
        "dedup_recall_at_1": index["dedup_recall_at_1"],
    }
    summary["targets_met"] = {
        key: (
            summary[key] >= bound
            if op == ">="
            else summary[key] <= bound
            if op == "<="
            else summary[key] < bound
        )
        for key, (op, bound) in TARGETS.items()
    }
    summary["details"] = {
        "raw_before": raw_before,
        "raw_after": raw_after,
        "pipeline": pipeline,
        "naive_hf": hf,
        "dedup": index,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "total_wall_s": round(time.time() - started, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
