"""A 2-layer random Llama with the embedded SmolLM2 tokenizer: real code paths, millisecond forwards.

The tokenizer is converted offline from the embedded GGUF (it carries the chat template); that
conversion takes seconds, so it happens once per test session and later models copy its files.
Its vocabulary equals the embedded GGUF's, which is what lets the GGUF export reuse that file's
tokenizer metadata for the tiny model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

_TOKENIZER_FILES: list[Path] = []


def _save_tokenizer(out: Path) -> None:
    if _TOKENIZER_FILES and all(path.is_file() for path in _TOKENIZER_FILES):
        for path in _TOKENIZER_FILES:
            shutil.copy2(path, out / path.name)
        return
    from transformers import AutoTokenizer

    from crescent.models import default_model_path

    gguf = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    saved = tokenizer.save_pretrained(str(out))
    _TOKENIZER_FILES[:] = [Path(p) for p in saved if Path(p).is_file()]


def build_tiny_model(
    tmp_dir: Path, *, layers: int = 2, seed: int = 0, init_range: float = 0.2, architecture: str = "llama"
) -> Path:
    """Write a random LlamaForCausalLM (hidden 64, 4 heads, 2 KV heads) plus tokenizer to ``tmp_dir/tiny``.

    ``init_range`` is larger than Llama's 0.02 so that logits are well separated and greedy
    decoding is not decided by float rounding (the GGUF round-trip test depends on that).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    out = Path(tmp_dir) / ("tiny" if architecture == "llama" else f"tiny-{architecture}")
    out.mkdir(parents=True, exist_ok=True)
    _save_tokenizer(out)
    config_class, model_class = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),  # q/k/v biases, NEOX rope in llama.cpp
    }[architecture]
    config = config_class(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        initializer_range=init_range,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    if architecture == "qwen2":  # random biases, so a wrong bias export cannot pass unnoticed
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("bias"):
                    param.normal_(0.0, init_range)
    model.save_pretrained(str(out))
    return out
