"""Generation throughput on one model: a raw llama.cpp reference, crescent's eval and generate.

``run_all.py`` calls these side by side in one run, because on a shared machine only ratios measured
together mean anything. ``python benchmarks/throughput.py --child generate|eval OUT --model PATH ...`` is
the child process that runs crescent's ``generate`` or ``eval`` and prints its figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

RAW_SEQUENCES = 16  # the decode slots crescent uses by default (--batch-size 16)


def first_question(data: Path) -> str:
    """The question whose solve prompt the raw reference decodes: the first row of the eval data."""
    from crescent.eval.data import load_items

    return load_items(data)[0].question


def raw_batched_tok_s(model_path: str, threads: int, new_tokens: int, question: str) -> dict[str, float]:
    """The reference: a minimal direct llama-cpp-python batched decode, written out here on purpose.

    The solve prompt of one question (through the model's own chat template) is evaluated once and
    copied to 16 sequences, then one token per sequence per decode call, ``new_tokens`` each (EOS
    ignored, so every step decodes all 16: the engine's ceiling at the vote length), sampled per
    sequence (temperature, top-p, seeded dist) as votes are.
    """
    import llama_cpp as ll

    from crescent.backends.llamacpp import GgufModel
    from crescent.config import DEFAULT_SOLVE_INSTRUCTION, VotingConfig
    from crescent.prompts import solve_messages

    voting = VotingConfig.model_fields
    temperature, top_p = voting["vote_temperature"].default, voting["vote_top_p"].default
    gguf = GgufModel(model_path, ll)  # loads with the same buffer choice (AMX off) as crescent
    prompt = gguf.chat_tokens(solve_messages(question, DEFAULT_SOLVE_INSTRUCTION))
    n_prompt = len(prompt)
    params = ll.llama_context_default_params()
    params.n_ctx = RAW_SEQUENCES * (n_prompt + new_tokens + 16)
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = RAW_SEQUENCES
    # one KV stream per sequence, as the crescent backend sets it: with a unified cache every token attends
    # over all 16 sequences' cells behind a mask (the first Qwen-0.5B run had it, and ran this reference at
    # 55.6 tok/s against generate's 69.4: a reference slower than the pipeline it bounds)
    params.kv_unified = False
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = ll.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the crescent backend sets it
    ctx = ll.llama_init_from_model(gguf.model, params)
    mem = ll.llama_get_memory(ctx)
    batch = ll.llama_batch_init(max(512, n_prompt), 0, 1)

    def put(i: int, token: int, pos: int, seq: int, logits: bool) -> None:
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.seq_id[i][0] = token, pos, 1, seq
        batch.logits[i] = logits

    samplers = []
    for s in range(RAW_SEQUENCES):
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(temperature))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(top_p, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(1000 + s))
        samplers.append(chain)
    start = time.perf_counter()
    for i, token in enumerate(prompt):
        put(i, token, i, 0, i == n_prompt - 1)
    batch.n_tokens = n_prompt
    assert ll.llama_decode(ctx, batch) == 0
    for s in range(1, RAW_SEQUENCES):
        ll.llama_memory_seq_cp(mem, 0, s, -1, -1)
    idx = [n_prompt - 1] * RAW_SEQUENCES
    for step in range(new_tokens):
        tokens = [ll.llama_sampler_sample(samplers[s], ctx, idx[s]) for s in range(RAW_SEQUENCES)]
        for s, token in enumerate(tokens):
            put(s, token, n_prompt + step, s, True)
            idx[s] = s
        batch.n_tokens = RAW_SEQUENCES
        assert ll.llama_decode(ctx, batch) == 0
    wall = time.perf_counter() - start
    for chain in samplers:
        ll.llama_sampler_free(chain)
    ll.llama_batch_free(batch)
    ll.llama_free(ctx)
    ll.llama_model_free(gguf.model)
    tokens = RAW_SEQUENCES * new_tokens
    return {
        "tok_s": round(tokens / wall, 2),
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "prompt_tokens": n_prompt,
        "sequences": RAW_SEQUENCES,
    }


def _engine_figures(usage: dict, generated: int, wall: float) -> dict:
    """Tokens per second, and the work beside decoding: prefill and embedding tokens per completion token."""
    return {
        "tok_s": round(generated / wall, 2) if wall else 0.0,
        "completion_tokens": generated,
        "usage": usage,
        # prompt evaluation and embedding are work the raw reference does not do (1.0 = pure decoding)
        "engine_tokens_per_completion_token": round(
            (generated + usage.get("prefill_tokens", 0) + usage.get("embed_tokens", 0)) / max(generated, 1), 3
        ),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def child_generate(out: Path, model: str, threads: int, questions: int, votes: int, vote_tokens: int) -> dict:
    """Run the generate pipeline in this (child) process, timed per phase (``phases.py``)."""
    import phases

    from crescent.backends import create_backend
    from crescent.config import GenerateConfig
    from crescent.executors.local import LocalExecutor
    from crescent.pipeline.bait_tables import QuestionTable
    from crescent.pipeline.generate import generate
    from crescent.runs import read_store

    config = GenerateConfig(
        out=out,
        model=model,
        questions=questions,
        votes=votes,
        adaptive_votes=False,  # K votes per question, as the references draw
        batch_size=RAW_SEQUENCES,
        threads=threads,
        quiet=True,
        vote_max_tokens=vote_tokens,
        seed=0,
    )
    meter = phases.PhaseMeter(create_backend(config), config.bait_prompt)
    phases.install(meter)
    executor = phases.TimedExecutor(LocalExecutor(config, backend=meter), meter)
    try:
        stats = generate(config, executor=executor).stats
        per_phase = meter.report(time.perf_counter())
    finally:
        executor.close()
    usage = stats.backend_usage_this_session or {}
    with read_store(out) as db:  # the questions the votes answered
        voted = [q for _, q in QuestionTable(db).first(questions)]
    return {
        # every token the engine generated inside the pipeline, over the pipeline's own wall time
        **_engine_figures(usage, usage["completion_tokens"], stats.wall_s),
        "wall_s": stats.wall_s,
        # only tokens of recorded samples: a small run discards bait samples drawn past its target
        "recorded_tok_s": stats.tokens_per_s,
        "accepted": stats.bait.accepted,
        "kept": stats.vote.kept,
        "phases": per_phase,
        "voted_questions": voted,
        "votes": votes,
        "vote_max_tokens": vote_tokens,
        "vote_temperature": config.vote_temperature,
        "vote_top_p": config.vote_top_p,
        "solve_instruction": config.solve_instruction,
    }


def child_eval(out: Path, model: str, threads: int, data: Path, items: int, max_tokens: int) -> dict:
    """Run a greedy 0-shot eval of the first ``items`` rows of ``data`` in this (child) process."""
    from crescent.config import EvalConfig
    from crescent.eval.run import evaluate

    config = EvalConfig(
        out=out,
        model=model,
        data=data,
        limit=items,
        max_tokens=max_tokens,
        batch_size=RAW_SEQUENCES,
        threads=threads,
        quiet=True,
    )
    results = evaluate(config).results
    usage = results.backend_usage_this_session or {}
    return {
        **_engine_figures(usage, usage["completion_tokens"], results.wall_s),
        "wall_s": results.wall_s,
        "items": results.n,
        "accuracy": results.accuracy,
        "max_tokens": max_tokens,
    }


def run_child(kind: str, *options: str) -> dict:
    """A child in a fresh process, so its peak RSS and its engine are its own."""
    with tempfile.TemporaryDirectory(prefix="crescent-bench-") as tmp:
        command = [sys.executable, __file__, "--child", kind, str(Path(tmp) / "run"), *options]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--child", nargs=2, metavar=("KIND", "OUT"), required=True, help="generate|eval, run dir"
    )
    parser.add_argument("--model", required=True, help="GGUF path (resolved by the parent)")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--votes", type=int, default=5)
    parser.add_argument(
        "--max-tokens", type=int, default=200, help="vote length (generate), answer cap (eval)"
    )
    parser.add_argument("--data", type=Path, help="eval rows (eval only)")
    parser.add_argument("--items", type=int, default=16, help="eval rows to score (eval only)")
    args = parser.parse_args()
    kind, out = args.child[0], Path(args.child[1])
    if kind == "generate":
        result = child_generate(out, args.model, args.threads, args.questions, args.votes, args.max_tokens)
    elif kind == "eval":
        result = child_eval(out, args.model, args.threads, args.data, args.items, args.max_tokens)
    else:
        parser.error(f"--child {kind}: choose generate or eval")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
