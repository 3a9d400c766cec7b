"""The physical limit: FLOPs per token of a GGUF model and this machine's measured peak for its quant type.

**FLOPs per token** come from the GGUF's tensor shapes (``gguf.GGUFReader``): every weight matrix a token
passes through costs 2 FLOPs per element (a multiply and an add). That is every tensor of two or more
dimensions except the token embedding, which is a table lookup, unless the model has no ``output.weight``
and reuses the embedding as its output projection (tied weights), in which case it is counted once.
Attention over the context (about ``4 * layers * context * width`` per token) is left out of both the
work and the peak: at these lengths (a few hundred tokens) it is a few percent of the matmuls.

**Peak** is timed through llama.cpp's own code path: one sequence's prompt of ``PEAK_TOKENS`` tokens
decoded in a single batch (``n_batch = n_ubatch = PEAK_TOKENS``), the compute-bound regime that
``llama-bench``'s prompt-processing test (pp512) measures. Its weights are the model's own, so the
matmul kernels are the ones of its quant type (Q4_1, Q4_K...), with the same thread count and buffer
choice as crescent. Best of ``PEAK_REPEATS`` runs, each after clearing the KV cache. Peak FLOP/s =
FLOPs per token x tokens / seconds. Decoding (one token per sequence per step) is bound by memory
bandwidth, so the fraction of peak says how far from compute-bound a run is, not how badly it is written.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

PEAK_TOKENS = 512
PEAK_REPEATS = 3


def model_flops(path: str | Path) -> dict:
    """Parameters, matmul parameters, FLOPs per token and the dominant quant type of a GGUF file."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    sizes = {t.name: int(t.n_elements) for t in reader.tensors}
    matrices = {t.name: int(t.n_elements) for t in reader.tensors if len([d for d in t.shape if d > 1]) >= 2}
    tied = "output.weight" not in sizes
    matmul = sum(matrices.values()) - (0 if tied else matrices.get("token_embd.weight", 0))
    by_type: Counter[str] = Counter()
    for t in reader.tensors:
        if t.name in matrices and (tied or t.name != "token_embd.weight"):
            by_type[t.tensor_type.name] += int(t.n_elements)
    return {
        "parameters": sum(sizes.values()),
        "matmul_parameters": matmul,
        "flops_per_token": 2 * matmul,
        "tied_embeddings": tied,
        "quant_types": dict(by_type.most_common()),
        "dominant_quant_type": by_type.most_common(1)[0][0] if by_type else None,
    }


def measured_peak(model_path: str, threads: int, tokens: int = PEAK_TOKENS) -> dict:
    """Prompt-processing throughput of one long batch through llama.cpp, as FLOP/s (see the docstring)."""
    import llama_cpp as ll

    from crescent.backends.llamacpp import GgufModel

    flops = model_flops(model_path)
    gguf = GgufModel(model_path, ll)
    n_vocab = ll.llama_vocab_n_tokens(gguf.vocab)
    params = ll.llama_context_default_params()
    params.n_ctx = tokens + 16
    params.n_batch = params.n_ubatch = tokens
    params.n_seq_max = 1
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = ll.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the crescent backend sets it
    ctx = ll.llama_init_from_model(gguf.model, params)
    mem = ll.llama_get_memory(ctx)
    batch = ll.llama_batch_init(tokens, 0, 1)
    for i in range(tokens):  # token ids spread over the vocabulary: content does not change the cost
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.seq_id[i][0] = (i * 7919) % n_vocab, i, 1, 0
        batch.logits[i] = i == tokens - 1
    batch.n_tokens = tokens
    walls = []
    for _ in range(PEAK_REPEATS):
        ll.llama_memory_clear(mem, True)
        started = time.perf_counter()
        assert ll.llama_decode(ctx, batch) == 0
        walls.append(time.perf_counter() - started)
    ll.llama_batch_free(batch)
    ll.llama_free(ctx)
    ll.llama_model_free(gguf.model)
    best = min(walls)
    return {
        **flops,
        "peak_tokens": tokens,
        "peak_walls_s": [round(w, 3) for w in walls],
        "peak_tok_s": round(tokens / best, 2),
        "peak_flop_s": round(flops["flops_per_token"] * tokens / best),
        "peak_gflop_s": round(flops["flops_per_token"] * tokens / best / 1e9, 2),
    }


def fraction_of_peak(tok_s: float, peak: dict) -> float:
    """The share of the measured peak that ``tok_s`` tokens per second of this model amount to."""
    return round(tok_s * peak["flops_per_token"] / peak["peak_flop_s"], 4)
