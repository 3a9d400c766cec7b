"""Generation throughput on the default model: a raw llama.cpp reference, crescent's pipeline, naive HF.

``run_all.py`` calls these side by side in one run, because on a shared machine only ratios measured
together mean anything. Run alone, ``python benchmarks/throughput.py --child-generate OUT`` is the child
process that runs ``crescent generate`` and reports its stats, vote prefill and peak RSS as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

BAIT_PROMPT_USER = "Write one new, unique and diverse high-school-level math word problem."
RAW_SEQUENCES = 16
RAW_TOKENS = 96  # per sequence, EOS ignored so every step decodes all sequences
HF_BATCH = 16
HF_TOKENS = 32


def raw_batched_tok_s(threads: int) -> dict[str, float]:
    """The reference: a minimal direct llama-cpp-python batched decode, written out here on purpose.

    One prompt evaluated once and copied to 16 sequences, then one token per sequence per decode
    call, sampled per sequence (temperature, top-p, seeded dist), as the pipeline's bait step does.
    """
    import logging

    import llama_cpp as ll

    from crescent.models import default_model_path

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    ll.llama_backend_init()
    model_params = ll.llama_model_default_params()
    model_params.use_extra_bufts = b"AMX_INT8 = 1" not in ll.llama_print_system_info()  # AMX segfaults
    model = ll.llama_model_load_from_file(str(default_model_path()).encode(), model_params)
    vocab = ll.llama_model_get_vocab(model)
    params = ll.llama_context_default_params()
    params.n_ctx = RAW_SEQUENCES * 256
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = RAW_SEQUENCES
    params.kv_unified = True
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = ll.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the crescent backend sets it
    ctx = ll.llama_init_from_model(model, params)
    mem = ll.llama_get_memory(ctx)
    text = f"<|im_start|>user\n{BAIT_PROMPT_USER}<|im_end|>\n<|im_start|>assistant\n".encode()
    buf = (ll.llama_token * 256)()
    n_prompt = ll.llama_tokenize(vocab, text, len(text), buf, 256, False, True)
    batch = ll.llama_batch_init(512, 0, 1)

    def put(i: int, token: int, pos: int, seq: int, logits: bool) -> None:
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.seq_id[i][0] = token, pos, 1, seq
        batch.logits[i] = logits

    samplers = []
    for s in range(RAW_SEQUENCES):
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(1.0))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(0.95, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(1000 + s))
        samplers.append(chain)
    start = time.perf_counter()
    for i in range(n_prompt):
        put(i, buf[i], i, 0, i == n_prompt - 1)
    batch.n_tokens = n_prompt
    assert ll.llama_decode(ctx, batch) == 0
    for s in range(1, RAW_SEQUENCES):
        ll.llama_memory_seq_cp(mem, 0, s, -1, -1)
    idx = [n_prompt - 1] * RAW_SEQUENCES
    for step in range(RAW_TOKENS):
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
    ll.llama_model_free(model)
    tokens = RAW_SEQUENCES * RAW_TOKENS
    return {"tok_s": round(tokens / wall, 2), "tokens": tokens, "wall_s": round(wall, 2)}


def naive_hf_tok_s(threads: int) -> dict[str, float]:
    """transformers ``generate`` at batch 16 on the same weights (dequantized from the GGUF), fixed length."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from crescent.models import default_model_path

    torch.set_num_threads(threads)
    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": BAIT_PROMPT_USER}], add_generation_prompt=True, tokenize=False
    )
    inputs = tokenizer([prompt] * HF_BATCH, return_tensors="pt", add_special_tokens=False)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def run(new_tokens: int) -> float:
        torch.manual_seed(0)
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(
                **inputs,
                do_sample=True,
                temperature=1.0,
                top_p=0.95,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=pad,
            )
        return time.perf_counter() - start

    run(2)  # warm-up: first-call allocations
    walls = [run(HF_TOKENS) for _ in range(2)]
    tokens = HF_BATCH * HF_TOKENS * len(walls)
    return {"tok_s": round(tokens / sum(walls), 2), "tokens": tokens, "wall_s": round(sum(walls), 2)}


class _VoteMeter:
    """Wraps a backend and measures the vote stage: prompt tokens asked for vs. prefill tokens evaluated.

    Vote calls overlap (two in flight), so a per-call difference of the prefill counter would mix
    calls; the stage's prefill is the counter's growth from its first vote call to its last.
    """

    def __init__(self, backend, bait_prompt: str) -> None:
        self.backend, self.bait_prompt = backend, bait_prompt
        self.name, self.usage = backend.name, backend.usage
        self.overlapping_calls = getattr(backend, "overlapping_calls", False)
        self.vote = {"questions": 0, "prefill_tokens": 0, "prompt_tokens": 0}
        self._lock = threading.Lock()
        self._prefill_at_start: int | None = None

    def sample(self, requests, params):
        is_vote = bool(requests) and requests[0].messages[-1]["content"] != self.bait_prompt
        if is_vote:
            with self._lock:
                if self._prefill_at_start is None:
                    self._prefill_at_start = self.backend.usage.prefill_tokens
        out = self.backend.sample(requests, params)
        if is_vote:
            prompt = sum(len(self.backend.model.chat_tokens(r.messages)) for r in requests)
            with self._lock:
                self.vote["questions"] += len(requests)
                self.vote["prompt_tokens"] += prompt
                self.vote["prefill_tokens"] = self.backend.usage.prefill_tokens - self._prefill_at_start
        return out

    def cancel_all(self) -> None:
        self.backend.cancel_all()

    def embed(self, texts):
        return self.backend.embed(texts)

    def close(self) -> None:
        self.backend.close()


def child_generate(out: Path, threads: int, questions: int) -> dict:
    """Run the generate pipeline in this (child) process and report what the parent needs."""
    from crescent.backends import create_backend
    from crescent.config import GenerateConfig
    from crescent.executors.local import LocalExecutor
    from crescent.pipeline.generate import generate

    config = GenerateConfig(
        out=out,
        questions=questions,
        votes=5,
        batch_size=16,
        threads=threads,
        quiet=True,
        bait_max_tokens=120,
        vote_max_tokens=200,
        seed=0,
    )
    meter = _VoteMeter(create_backend(config), config.bait_prompt)
    executor = LocalExecutor(config, backend=meter)
    start = time.perf_counter()
    try:
        stats = generate(config, executor=executor).stats
    finally:
        executor.close()
    wall = time.perf_counter() - start
    vote = meter.vote
    generated = stats["backend_usage_this_session"]["completion_tokens"]
    return {
        # every token the engine generated inside the pipeline, over the pipeline's own wall time
        "tok_s": round(generated / stats["wall_s"], 2),
        "completion_tokens": generated,
        "stats_wall_s": stats["wall_s"],
        # only tokens of recorded samples: a small run discards bait samples drawn past its target
        "recorded_tok_s": stats["tokens_per_s"],
        "tokens_recorded": stats["tokens_generated"],
        "outer_wall_s": round(wall, 2),
        "accepted": stats["bait"]["accepted"],
        "kept": stats["vote"]["kept"],
        "usage": stats["backend_usage_this_session"],
        # prompt evaluation and embedding are work the raw reference does not do: tokens the
        # engine evaluated per completion token (1.0 would be pure decoding, as in the reference)
        "engine_tokens_per_completion_token": round(
            (
                generated
                + stats["backend_usage_this_session"]["prefill_tokens"]
                + stats["backend_usage_this_session"].get("embed_tokens", 0)
            )
            / max(generated, 1),
            3,
        ),
        "vote_prefill_tokens_per_question": round(vote["prefill_tokens"] / max(vote["questions"], 1), 2),
        "vote_prompt_tokens_per_question": round(vote["prompt_tokens"] / max(vote["questions"], 1), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def pipeline_generate(threads: int, questions: int) -> dict:
    """``child_generate`` in a fresh process, so its peak RSS is the pipeline's alone."""
    with tempfile.TemporaryDirectory(prefix="crescent-bench-") as tmp:
        command = [
            sys.executable,
            __file__,
            "--child-generate",
            str(Path(tmp) / "run"),
            "--threads",
            str(threads),
            "--questions",
            str(questions),
        ]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"generate child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child-generate", type=Path, required=True, help="run directory for the child")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--questions", type=int, default=24)
    args = parser.parse_args()
    print(json.dumps(child_generate(args.child_generate, args.threads, args.questions)))


if __name__ == "__main__":
    main()
