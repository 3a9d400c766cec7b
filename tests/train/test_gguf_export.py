"""GGUF export: the file loads in crescent's llama.cpp backend and reproduces the HF model's tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from crescent.backends.base import SampleRequest, SamplingParams
from crescent.backends.hf_loading import LoadedModel, load_model
from crescent.backends.llamacpp import LlamaCppBackend
from crescent.config import BackendConfig, PruneConfig
from crescent.errors import CrescentError
from crescent.train.gguf_export import export_gguf, permute_for_gguf
from crescent.train.prune import prune

PROMPT = [{"role": "user", "content": "Write a math word problem."}]
GREEDY_TOKENS = 16
MIN_DECIDED_TOKENS = 6


def test_permutation_is_the_inverse_of_the_transformers_loader() -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    loader = LlamaTensorProcessor(config={"num_attention_heads": 4, "num_key_value_heads": 2})
    q = np.random.default_rng(0).normal(size=(4 * 16, 64)).astype(np.float32)
    k = q[: 2 * 16]
    assert not np.array_equal(permute_for_gguf(q, 4), q)
    np.testing.assert_array_equal(loader.process(permute_for_gguf(q, 4), "blk.0.attn_q.weight").weights, q)
    np.testing.assert_array_equal(loader.process(permute_for_gguf(k, 2), "blk.0.attn_k.weight").weights, k)


def compare_with_llamacpp(loaded: LoadedModel, gguf_path: Path, atol: float, greedy: bool = True) -> None:
    """llama.cpp's logits over transformers' greedy continuation match, and crescent's llama.cpp backend
    decodes greedily the very tokens transformers does.

    Greedy equality is only meaningful where the top two logits are further apart than the float error
    (F16 weights, F16 KV cache): tokens are compared up to the first near tie, and at least
    ``MIN_DECIDED_TOKENS`` must come before it, so a prompt that ties early fails loudly.
    """
    import llama_cpp

    tok = loaded.tokenizer
    text = tok.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    model = loaded.model.eval()
    with torch.inference_mode():
        sequence = model.generate(torch.tensor([ids]), max_new_tokens=GREEDY_TOKENS, do_sample=False)[0]
        hf_logits = model(sequence.unsqueeze(0)).logits[0].numpy()
    sequence = sequence.tolist()
    llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    try:
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids  # same tokenizer metadata
        llm.eval(sequence)
        cpp_logits = np.array(llm.scores[: len(sequence)])
    finally:
        llm.close()
    np.testing.assert_allclose(cpp_logits, hf_logits, atol=atol)
    if not greedy:
        return
    # Greedy equality means something only while the top two logits are further apart than the float
    # error (F16 weights and KV cache); compare the continuation up to the first step that is not.
    steps = hf_logits[len(ids) - 1 : -1]
    top2 = np.sort(steps, axis=-1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 2 * np.abs(cpp_logits - hf_logits).max()
    safe = int(np.argmin(decided)) if not decided.all() else len(decided)
    assert safe >= MIN_DECIDED_TOKENS, f"a near tie after {safe} tokens: pick another prompt"
    hf_tokens = sequence[len(ids) :][:safe]
    assert steps[:safe].argmax(-1).tolist() == hf_tokens

    backend = LlamaCppBackend(BackendConfig(model=str(gguf_path), n_ctx=256, threads=2))
    try:
        params = SamplingParams(temperature=0.0, max_tokens=GREEDY_TOKENS)
        ((completion,),) = backend.sample([SampleRequest(tuple(PROMPT), n=1, seed=0)], params)
    finally:
        backend.close()
    if tok.eos_token_id in hf_tokens:
        hf_tokens = hf_tokens[: hf_tokens.index(tok.eos_token_id)]
    assert completion.text.startswith(tok.decode(hf_tokens, skip_special_tokens=True))


def test_tiny_model_gguf_reproduces_greedy_tokens(tiny_model_dir: Path, tmp_path: Path) -> None:
    loaded = load_model(str(tiny_model_dir))
    path = export_gguf(loaded.model, tmp_path / "tiny.gguf", tokenizer=loaded.tokenizer)
    assert path.read_bytes()[:4] == b"GGUF"
    compare_with_llamacpp(loaded, path, atol=0.1)


def test_tiny_qwen2_gguf_reproduces_logits(tmp_path: Path) -> None:
    from tiny_model import build_tiny_model

    loaded = load_model(str(build_tiny_model(tmp_path, architecture="qwen2")))
    path = export_gguf(loaded.model, tmp_path / "tiny-qwen2.gguf", tokenizer=loaded.tokenizer)
    # Every logit of every position within 0.1 is the evidence (biases written, q/k rows not permuted);
    # this random model's greedy path has near ties, so token equality would test float rounding.
    compare_with_llamacpp(loaded, path, atol=0.1, greedy=False)


def test_quantized_export_loads_in_llamacpp(tiny_model_dir: Path, tmp_path: Path) -> None:
    loaded = load_model(str(tiny_model_dir))
    f16 = export_gguf(loaded.model, tmp_path / "f16.gguf", tokenizer=loaded.tokenizer)
    q8 = export_gguf(loaded.model, tmp_path / "q8.gguf", tokenizer=loaded.tokenizer, dtype="q8_0")
    assert q8.stat().st_size < f16.stat().st_size and not (tmp_path / "q8.f16.gguf").exists()
    backend = LlamaCppBackend(BackendConfig(model=str(q8), n_ctx=256, threads=1))
    try:
        params = SamplingParams(temperature=0.0, max_tokens=8)
        ((completion,),) = backend.sample([SampleRequest(tuple(PROMPT), n=1, seed=0)], params)
    finally:
        backend.close()
    assert completion.tokens > 0


def test_other_architectures_need_the_converter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    monkeypatch.setenv("CRESCENT_CONVERT_HF_TO_GGUF", str(tmp_path / "absent.py"))
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64, n_positions=32))
    with pytest.raises(CrescentError, match=r"architecture 'gpt2' is not one of.*convert_hf_to_gguf"):
        export_gguf(model, tmp_path / "gpt2.gguf", model_dir=tmp_path)


@pytest.mark.slow
def test_pruned_default_model_round_trips_through_gguf(tmp_path: Path) -> None:
    """The embedded model, cut to its first and last layer: real weights, GGUF template = the source file."""
    result = prune(PruneConfig(keep="0,29", out=tmp_path / "student"))
    assert result.kept == [0, 29] and result.layers_before == 30
    assert result.gguf_path is not None
    loaded = load_model(str(result.model_dir))
    assert loaded.model.config.num_hidden_layers == 2
    # Two of 30 layers give logits near 80 whose top two can sit within F16 error of each other after
    # the first token (machine-dependent kernels decide which way): the logits are the evidence here,
    # greedy equality is tested on the tiny model.
    compare_with_llamacpp(loaded, result.gguf_path, atol=0.5, greedy=False)
