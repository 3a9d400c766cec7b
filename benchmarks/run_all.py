"""Every benchmark on one model, side by side in one run; prints a JSON summary and writes it to results/.

    .venv/bin/python benchmarks/run_all.py [--model PATH|NAME] [--threads N] [--vote-max-tokens T] ...

``--model`` is resolved as ``crescent --model`` resolves it (empty: the embedded SmolLM2-135M; a catalog
name such as ``qwen2.5-coder-0.5b`` once ``crescent models pull`` fetched it; a GGUF path). Results go to
``results/latest.json`` for the embedded model and ``results/latest-<slug>.json`` otherwise (``model_slug``).

In one run, with one thread count: the raw batched llama.cpp engine (``throughput.raw_batched_tok_s``),
crescent ``eval`` (greedy, 0-shot) and ``generate`` (bait + dedup + K fixed votes at the vote length,
timed per phase by ``phases.py``), the references on the very questions the vote phase answered
(``references.py``: transformers ``generate``, and distilabel 1.5 when ``--distilabel-python`` names an
interpreter that has it), and the machine's peak for the model's quant type (``peak.py``).

Throughput on a shared machine swings with other people's load, so the raw reference is measured
before and after everything else and averaged, and the ratios (not the absolute tok/s) are the figures
to compare across runs. CPU seconds are reported next to wall seconds for the same reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from crescent.threads import apply_thread_policy  # noqa: E402

# Before llama.cpp or torch load OpenMP, and inherited by every child: each engine measured here waits
# for work the way crescent's CLI makes llama.cpp wait (passively), so none is favoured by the setting.
apply_thread_policy()

import dedup  # noqa: E402
import peak  # noqa: E402
import references  # noqa: E402
import throughput  # noqa: E402

from crescent.config import BackendConfig, VotingConfig  # noqa: E402
from crescent.errors import CrescentError  # noqa: E402

RESULTS = HERE / "results"
DEFAULT_DATA = HERE / "data" / "gsm8k-test-32.jsonl"
TARGETS = {
    "ratio_vs_raw": (">=", 0.9),
    "vote_phase_over_hf": (">=", 5.0),
    "vote_prefill_over_prompt": ("<=", 1.1),
    "dedup_1m_s": ("<", 60.0),
    "dedup_recall_at_1": (">=", 0.99),
    "peak_rss_mb": ("<", 2000.0),
}


def model_slug(model: str | None) -> str | None:
    """``None`` for the embedded model (its file stays ``latest.json``); a catalog name's first word
    (``qwen2.5-coder-0.5b`` -> ``qwen``); otherwise the file's stem, lower-case, other characters as ``-``."""
    from crescent import catalog

    if model in (None, "", "default"):
        return None
    if catalog.lookup(model) is not None:
        return re.match(r"[a-z]+", model.lower()).group(0)
    return re.sub(r"[^a-z0-9]+", "-", Path(model).stem.lower()).strip("-") or "model"


def results_path(model: str | None) -> Path:
    slug = model_slug(model)
    return RESULTS / ("latest.json" if slug is None else f"latest-{slug}.json")


def _timed(label: str, fn, *args):
    print(f"[{time.strftime('%H:%M:%S')}] {label} ...", file=sys.stderr, flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    result["cpu_s_this_process"] = round(time.process_time() - cpu, 2)
    result["bench_wall_s"] = round(time.perf_counter() - wall, 2)
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _parse() -> argparse.Namespace:
    voting = VotingConfig.model_fields
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="GGUF path or catalog name (default: embedded)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every engine")
    parser.add_argument("--questions", type=int, default=24, help="questions the generate run accepts")
    parser.add_argument("--votes", type=int, default=voting["votes"].default, help="K votes per question")
    parser.add_argument(
        "--vote-max-tokens",
        type=int,
        default=voting["vote_max_tokens"].default,
        help="vote length: generate's votes, eval's answer cap, the raw and reference lengths",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="eval rows {question, answer}")
    parser.add_argument("--eval-items", type=int, default=32, help="eval rows scored (greedy, 0-shot)")
    parser.add_argument(
        "--reference-questions",
        type=int,
        default=None,
        help="voted questions the references answer (default: all; fewer makes only tok/s comparable)",
    )
    parser.add_argument("--skip-hf", action="store_true", help="leave out the transformers reference")
    parser.add_argument(
        "--distilabel-python",
        default=None,
        help="interpreter with distilabel 1.5 installed (e.g. /work/venv-distilabel/bin/python); "
        "without it the distilabel reference is not run",
    )
    parser.add_argument(
        "--peak-tokens", type=int, default=peak.PEAK_TOKENS, help="tokens in the peak's one batch"
    )
    parser.add_argument("--skip-dedup", action="store_true", help="leave out the 10^6-vector dedup index")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: from --model)")
    return parser.parse_args()


def main() -> None:
    args = _parse()
    from crescent.models import check_gguf, resolve_model

    try:  # a bad --model or --data costs one line, before any model time is spent
        model_path = str(check_gguf(resolve_model(args.model)))
        first_question = throughput.first_question(args.data)
    except CrescentError as exc:
        sys.exit(f"error: {exc}")
    out = args.out or results_path(args.model)
    started, load_before = time.time(), os.getloadavg()
    n_ctx = BackendConfig.model_fields["n_ctx"].default
    raw_args = (model_path, args.threads, args.vote_max_tokens, first_question)

    raw_before = _timed("raw llama.cpp batched decode", throughput.raw_batched_tok_s, *raw_args)
    common = [
        "--model",
        model_path,
        "--threads",
        str(args.threads),
        "--max-tokens",
        str(args.vote_max_tokens),
    ]
    evaluation = _timed(
        "crescent eval (child process)",
        throughput.run_child,
        "eval",
        *common,
        "--data",
        str(args.data),
        "--items",
        str(args.eval_items),
    )
    generation = _timed(
        "crescent generate (child process)",
        throughput.run_child,
        "generate",
        *common,
        "--questions",
        str(args.questions),
        "--votes",
        str(args.votes),
    )
    spec = {
        key: generation[key]
        for key in ("votes", "vote_max_tokens", "vote_temperature", "vote_top_p", "solve_instruction")
    }
    spec["questions"] = generation["voted_questions"][: args.reference_questions]
    hf = (
        None
        if args.skip_hf
        else _timed("transformers generate", references.hf_votes, model_path, args.threads, spec)
    )
    distilabel = (
        _timed(
            "distilabel LlamaCppLLM (subprocess)",
            references.distilabel_votes,
            args.distilabel_python,
            model_path,
            args.threads,
            spec,
            n_ctx,
        )
        if args.distilabel_python
        else None
    )
    limit = _timed(
        "peak: prompt processing through llama.cpp",
        peak.measured_peak,
        model_path,
        args.threads,
        args.peak_tokens,
    )
    raw_after = _timed("raw llama.cpp batched decode again", throughput.raw_batched_tok_s, *raw_args)
    index = (
        None
        if args.skip_dedup
        else _timed("dedup index at 10^6", dedup.run, 1_000_000, 10_000, 500, args.threads)
    )

    raw = (raw_before["tok_s"] + raw_after["tok_s"]) / 2
    vote = generation["phases"]["vote"]
    engine_tok_s = generation["tok_s"] * generation["engine_tokens_per_completion_token"]
    same_work = len(spec["questions"]) == len(generation["voted_questions"])
    summary = {
        "model": args.model or "embedded SmolLM2-135M",
        "raw_batched_tok_s": round(raw, 2),
        "eval_tok_s": evaluation["tok_s"],
        "generate_tok_s": generation["tok_s"],
        "vote_phase_tok_s": vote["tok_s"],
        "ratio_vs_raw": _ratio(generation["tok_s"], raw),
        "eval_ratio_vs_raw": _ratio(evaluation["tok_s"], raw),
        "generate_over_eval": _ratio(generation["tok_s"], evaluation["tok_s"]),
        "vote_phase_ratio_vs_raw": _ratio(vote["tok_s"], raw),
        "hf_votes_tok_s": hf["tok_s"] if hf else None,
        "vote_phase_over_hf": _ratio(vote["tok_s"], hf["tok_s"]) if hf else None,
        # wall time for the same work: only when the references answered every voted question
        "hf_wall_over_vote_phase": _ratio(hf["wall_s"], vote["wall_s"]) if hf and same_work else None,
        "distilabel_tok_s": distilabel["tok_s"] if distilabel else None,
        "vote_phase_over_distilabel": _ratio(vote["tok_s"], distilabel["tok_s"]) if distilabel else None,
        "distilabel_wall_over_vote_phase": (
            _ratio(distilabel["wall_s"], vote["wall_s"]) if distilabel and same_work else None
        ),
        "flops_per_token": limit["flops_per_token"],
        "quant_type": limit["dominant_quant_type"],
        "peak_gflop_s": limit["peak_gflop_s"],
        "fraction_of_peak_raw": peak.fraction_of_peak(raw, limit),
        "fraction_of_peak_eval": peak.fraction_of_peak(evaluation["tok_s"], limit),
        "fraction_of_peak_generate": peak.fraction_of_peak(generation["tok_s"], limit),
        # every token the engine evaluated in generate (prefill and embedding too), not only completions
        "fraction_of_peak_generate_engine": peak.fraction_of_peak(engine_tok_s, limit),
        "generate_phases": {
            name: {key: phase[key] for key in ("wall_s", "tok_s", "slot_occupancy", "share_of_wall")}
            for name, phase in generation["phases"].items()
        },
        "vote_prefill_tokens_per_question": vote["prefill_tokens_per_question"],
        "vote_prompt_tokens_per_question": vote["prompt_tokens_per_question"],
        "vote_prefill_over_prompt": _ratio(
            vote["prefill_tokens_per_question"], vote["prompt_tokens_per_question"]
        ),
        "generate_engine_tokens_per_completion_token": generation["engine_tokens_per_completion_token"],
        "generate_slot_occupancy": generation["usage"].get("slot_occupancy"),
        "eval_slot_occupancy": evaluation["usage"].get("slot_occupancy"),
        "peak_rss_mb": generation["peak_rss_mb"],
        "dedup_1m_s": index["dedup_1m_s"] if index else None,
        "dedup_recall_at_1": index["dedup_recall_at_1"] if index else None,
    }
    summary["targets_met"] = {
        key: (
            None
            if summary[key] is None
            else summary[key] >= bound
            if op == ">="
            else summary[key] <= bound
            if op == "<="
            else summary[key] < bound
        )
        for key, (op, bound) in TARGETS.items()
    }
    generation = {k: v for k, v in generation.items() if k != "voted_questions"}
    summary["details"] = {
        "raw_before": raw_before,
        "raw_after": raw_after,
        "eval": evaluation,
        "generate": generation,
        "references": {
            "questions": len(spec["questions"]),
            "same_questions_as_vote_phase": same_work,
            **{k: v for k, v in spec.items() if k != "questions"},
            "hf": hf,
            "distilabel": distilabel,
        },
        "peak": limit,
        "dedup": index,
        "model_path": model_path,
        "data": str(args.data),
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "total_wall_s": round(time.time() - started, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
