"""Hugging Face transformers: any causal LM folder, hub id or GGUF file, decoded in batches.

Why a second engine next to llama.cpp: it runs on GPUs, loads any HF checkpoint (the models
``crescent train`` writes, say), and decodes many sequences at once. Prompts are rendered with the
tokenizer's chat template, left-padded, and decoded together with a KV cache; the ``n`` samples of a
request are ``n`` rows, so a request larger than a batch simply spans several batches.

Reproducibility: sample ``j`` of a request draws its tokens from its own ``torch.Generator`` seeded
with ``derive_seed(request.seed, j)`` (the same derivation as the llama.cpp backend), inside a logits
processor, so a sample does not depend on which other rows share its batch or on the global torch
RNG. Outputs are bit-identical for the same model, device, dtype and batch layout; a different layout
(batch size, padding) can change logits in the last float bits and, rarely, flip a sampled token.

``embed`` mean-pools the model's final hidden states (after the last norm, as llama.cpp's mean
pooling does) over the attention mask: the model's own representation, not a separate embedder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from crescent.backends.base import (
    BackendBase,
    BackendError,
    Completion,
    PromptTooLong,
    SampleRequest,
    SamplingParams,
    Usage,
    derive_seed,
)
from crescent.backends.hf_loading import load_model
from crescent.config import BackendConfig
from crescent.threads import default_threads

MEMORY_FRACTION_GPU = 0.6  # of free GPU memory that the KV cache and logits of one batch may take
MEMORY_FRACTION_CPU = 0.25  # of available RAM (the machine is usually shared)


@dataclass(frozen=True)
class _Row:
    request: int
    sample: int
    prompt: list[int]
    seed: int


class _SeededSampler(LogitsProcessor):
    """Temperature + top-p sampling with one generator per row; returns a one-hot mask for greedy decode.

    ``generate`` runs with ``do_sample=False``, so choosing the token here (and masking every other
    one) is how each row gets its own random stream.
    """

    def __init__(self, generators: list[torch.Generator] | None, temperature: float, top_p: float) -> None:
        self.generators = generators
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.float()
        if self.generators is None:  # temperature 0: greedy
            choice = scores.argmax(dim=-1)
        else:
            probs = torch.softmax(scores / self.temperature, dim=-1)
            order = None
            if self.top_p < 1.0:
                probs, order = probs.sort(dim=-1, descending=True)
                probs = probs.masked_fill(probs.cumsum(dim=-1) - probs >= self.top_p, 0.0)
            # Inverse-CDF draw: one uniform per row from that row's generator (far cheaper than multinomial).
            cdf = probs.cumsum(dim=-1)
            uniform = torch.cat([torch.rand(1, generator=g, device=scores.device) for g in self.generators])
            choice = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(-1), right=True)
            choice = choice.clamp(max=scores.shape[-1] - 1)
            choice = (order.gather(-1, choice) if order is not None else choice).squeeze(-1)
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(-1, choice.unsqueeze(-1), 0.0)
        return out


class TransformersBackend(BackendBase):
    name = "transformers"

    def __init__(self, config: BackendConfig) -> None:
        torch.set_num_threads(config.threads or default_threads())  # the cores free now, by default
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = (
            torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        )
        loaded = load_model(config.model, dtype=dtype)
        self.model = loaded.model.to(self.device).eval()
        self.tokenizer = loaded.tokenizer
        self.batch_size = config.batch_size
        self.n_ctx = config.n_ctx
        self.usage = Usage()
        eos = self.model.generation_config.eos_token_id
        eos_ids = eos if isinstance(eos, list) else [eos]
        self.eos_ids = [i for i in eos_ids if i is not None] or [self.tokenizer.eos_token_id]
        self.terminators = set(self.eos_ids) | {self.tokenizer.pad_token_id}

    # -- sampling ---------------------------------------------------------------------------------------

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[list[Completion]]:
        rows = []
        for index, request in enumerate(requests):
            prompt = self._encode_chat(request)
            self.usage.requests += request.n
            self.usage.prompt_tokens += len(prompt) * request.n
            self.usage.prefill_tokens += len(prompt) * request.n
            rows += [
                _Row(index, j, prompt, derive_seed(request.seed, request.first_index + j))
                for j in range(request.n)
            ]
        out: list[list[Completion | None]] = [[None] * request.n for request in requests]
        start = 0
        while start < len(rows):
            size = self._batch_cap(max(len(r.prompt) for r in rows[start : start + self.batch_size]), params)
            chunk = rows[start : start + size]
            for row, completion in zip(chunk, self._generate(chunk, params), strict=True):
                out[row.request][row.sample] = completion
                self.usage.completion_tokens += completion.tokens
            start += size
        return [[c for c in completions if c is not None] for completions in out]

    def _encode_chat(self, request: SampleRequest) -> list[int]:
        try:
            text = self.tokenizer.apply_chat_template(
                list(request.messages), add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:  # jinja errors: a template may reject a message list (e.g. role order)
            raise BackendError(f"the model's chat template rejected the messages: {exc}") from exc
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids)

    def _batch_cap(self, prompt_len: int, params: SamplingParams) -> int:
        """Rows per ``generate`` call: config.batch_size, lowered so that the KV cache of
        ``batch x (prompt + max_tokens)`` tokens and the per-step logits fit a fraction of free memory."""
        limit = self.model.config.max_position_embeddings
        if prompt_len + params.max_tokens > limit:
            raise PromptTooLong(
                f"prompt ({prompt_len} tokens) + max_tokens ({params.max_tokens}) exceeds the model's "
                f"context ({limit}); lower max_tokens or shorten the prompt"
            )
        cfg = self.model.config
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        elem = torch.finfo(self.model.dtype).bits // 8
        per_row = 2 * cfg.num_hidden_layers * kv_heads * head_dim * elem * (prompt_len + params.max_tokens)
        per_row += (
            3 * cfg.vocab_size * 4 + 8 * cfg.hidden_size * prompt_len * elem
        )  # logits, prefill activations
        return max(1, min(self.batch_size, int(_free_memory(self.device) // per_row)))

    @torch.inference_mode()
    def _generate(self, rows: list[_Row], params: SamplingParams) -> list[Completion]:
        width = max(len(r.prompt) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor(
            [[pad] * (width - len(r.prompt)) + r.prompt for r in rows], device=self.device
        )
        mask = torch.tensor(
            [[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in rows], device=self.device
        )
        greedy = params.temperature <= 0.0
        generators = (
            None if greedy else [torch.Generator(device=self.device).manual_seed(r.seed) for r in rows]
        )
        gen_config = GenerationConfig(
            max_new_tokens=params.max_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=self.eos_ids,
            pad_token_id=pad,
            stop_strings=list(params.stop) or None,
        )
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            generation_config=gen_config,
            logits_processor=LogitsProcessorList(
                [_SeededSampler(generators, params.temperature, params.top_p)]
            ),
            tokenizer=self.tokenizer if params.stop else None,
        )
        return [self._completion(ids, params) for ids in output[:, width:].tolist()]

    def _completion(self, generated: list[int], params: SamplingParams) -> Completion:
        end = next((i for i, tok in enumerate(generated) if tok in self.terminators), None)
        tokens = generated if end is None else generated[:end]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in params.stop if s) if i >= 0), default=-1)
        if cut >= 0:
            return Completion(text=text[:cut], tokens=len(tokens), finish_reason="stop")
        hit_limit = end is None and len(generated) >= params.max_tokens
        return Completion(text=text, tokens=len(tokens), finish_reason="length" if hit_limit else "stop")

    # -- embeddings -------------------------------------------------------------------------------------

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        dim = self.model.config.hidden_size
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        limit = min(self.n_ctx, self.model.config.max_position_embeddings)
        base = self.model.base_model
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="pt",
                padding_side="right",
            ).to(self.device)
            hidden = base(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            weights = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
            pooled = (hidden.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            chunks.append(pooled.cpu().numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _free_memory(device: torch.device) -> float:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free * MEMORY_FRACTION_GPU
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        available = 4 * 2**30
    return available * MEMORY_FRACTION_CPU
