"""llama.cpp through llama-cpp-python: the default engine, and the embedded SmolLM2 GGUF.

``LlamaCppBackend`` (the registered ``llamacpp``) decodes many sequences per step
and evaluates each prompt once for all its samples (see ``llamacpp_batch``).
``SimpleLlamaCppBackend`` is the fallback: one sequence at a time through the
high-level API, whose prompt cache re-uses the longest common prefix. Both embed
with the model itself: a second context of the same weights in embedding mode,
mean-pooled over the final hidden states, not a separate embedder.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np

from crescent.backends.base import (
    BackendBase,
    BackendError,
    Completion,
    Message,
    PromptTooLong,
    SampleRequest,
    SamplingParams,
    Usage,
    derive_seed,
)
from crescent.backends.llamacpp_batch import BatchDecoder, Job
from crescent.config import BackendConfig
from crescent.errors import CrescentError
from crescent.models import check_gguf, resolve_model
from crescent.threads import FreeCoreWatch, apply_thread_policy, default_threads

apply_thread_policy()  # before llama_cpp (imported lazily below) loads its OpenMP runtime

EMBED_MAX_SEQS = 64  # texts per embedding decode call
_CORRUPT = "the file may be corrupt or truncated: re-download it"
_TOO_LONG = "raise --n-ctx or shorten the prompt"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp prints its load log on fd 2 even with verbose=False in some builds."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _needs_plain_buffers(llama_cpp) -> bool:
    """True when this llama.cpp build has the AMX kernels, which we must not use.

    On a Xeon with AMX (the wheel built there), ``ggml_backend_amx_mul_mat`` segfaults on
    any batch of more than one token with the Q4_1 default model. Turning off the "extra
    buffer types" avoids that path; it also turns off weight repacking, a speed cost only for
    quantizations that repack (Q4_0, Q4_K...).
    """
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


@contextlib.contextmanager
def _plain_buffers_for_high_level_api(llama_cpp) -> Iterator[None]:
    """``llama_cpp.Llama`` builds its model params itself; make them skip AMX while it loads."""
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params
    if not _needs_plain_buffers(llama_cpp):
        yield
        return

    def plain():
        params = original()
        params.use_extra_bufts = False
        return params

    module.llama_model_default_params = plain
    try:
        yield
    finally:
        module.llama_model_default_params = original


class GgufModel:
    """The weights, vocabulary and chat template of one GGUF file, through the low-level API."""

    def __init__(self, path: str, llama_cpp) -> None:
        self.ll = ll = llama_cpp
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        ll.llama_backend_init()
        params = ll.llama_model_default_params()
        params.use_extra_bufts = not _needs_plain_buffers(ll)
        with _quiet_stderr():
            self.model = ll.llama_model_load_from_file(str(path).encode(), params)
        if self.model is None:
            raise CrescentError(f"llama.cpp could not load {path}; {_CORRUPT}")
        self.vocab = ll.llama_model_get_vocab(self.model)
        self.n_embd = ll.llama_model_n_embd(self.model)
        self._formatter = self._chat_formatter()

    def meta(self, key: str) -> str | None:
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self.ll.llama_model_meta_val_str(self.model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    def _chat_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.meta("tokenizer.chat_template")
        if template is None:
            return None
        eos, bos = self.ll.llama_vocab_eos(self.vocab), self.ll.llama_vocab_bos(self.vocab)
        text = self.ll.llama_vocab_get_text
        return Jinja2ChatFormatter(
            template=template,
            eos_token=text(self.vocab, eos).decode("utf-8", errors="replace") if eos >= 0 else "",
            bos_token=text(self.vocab, bos).decode("utf-8", errors="replace") if bos >= 0 else "",
        )

    def chat_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The prompt tokens, rendered as ``create_chat_completion`` renders them (chatml if no template)."""
        if self._formatter is None:
            body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            return self.tokenize(body + "<|im_start|>assistant\n", add_special=True, special=True)
        try:
            rendered = self._formatter(messages=[dict(m) for m in messages])
        except Exception as exc:  # a template may reject a message list (e.g. role order)
            raise BackendError(f"the model's chat template rejected the messages: {exc}") from exc
        return self.tokenize(rendered.prompt, add_special=not rendered.added_special, special=True)

    def tokenize(self, text: str, *, add_special: bool, special: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        while True:
            buf = (self.ll.llama_token * cap)()
            n = self.ll.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, special)
            if n >= 0:
                return list(buf[:n])
            cap = -n

    def close(self) -> None:
        if self.model is not None:
            self.ll.llama_model_free(self.model)
            self.model = None


class _Embedder:
    """Mean-pooled hidden states, several texts per decode call (one KV sequence each)."""

    def __init__(self, model: GgufModel, *, n_ctx: int, threads: int, engine_lock: threading.Lock) -> None:
        ll = self.ll = model.ll
        self.engine_lock = engine_lock
        self.model = model
        self.n_ctx = n_ctx
        self.n_seq = min(EMBED_MAX_SEQS, ll.llama_max_parallel_sequences())
        params = ll.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = n_ctx
        params.n_seq_max = self.n_seq
        params.kv_unified = True
        params.embeddings = True
        params.pooling_type = ll.LLAMA_POOLING_TYPE_MEAN
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        with _quiet_stderr():  # it warns that the model's default pooling is overridden
            self.ctx = ll.llama_init_from_model(model.model, params)
        if self.ctx is None:
            raise BackendError(
                f"llama.cpp could not allocate an embedding context of {n_ctx} tokens; lower --n-ctx"
            )
        self.mem = ll.llama_get_memory(self.ctx)
        self.batch = ll.llama_batch_init(n_ctx, 0, 1)
        self.threads = threads

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            with self.engine_lock:
                self.ll.llama_set_n_threads(self.ctx, threads, threads)
            self.threads = threads

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Identical texts are embedded once, so they get bit-identical vectors; empty ones get zeros.

        Across calls a text's vector can differ in the last bits: where its cells sit in the
        batch changes the order of float sums in attention.
        """
        unique = list(dict.fromkeys(texts))
        tokens = [self.model.tokenize(t, add_special=True, special=False)[: self.n_ctx] for t in unique]
        self.last_tokens = sum(len(t) for t in tokens)  # evaluated tokens, for the usage counters
        out = np.zeros((len(unique), self.model.n_embd), dtype=np.float32)
        group: list[int] = []
        used = 0
        for i, toks in enumerate(tokens):
            if not toks:
                continue
            if used + len(toks) > self.n_ctx or len(group) >= self.n_seq:
                self._decode(group, tokens, out)
                group, used = [], 0
            group.append(i)
            used += len(toks)
        if group:
            self._decode(group, tokens, out)
        row = {text: i for i, text in enumerate(unique)}
        return out[[row[t] for t in texts]]

    def _decode(self, group: list[int], tokens: list[list[int]], out: np.ndarray) -> None:
        ll, batch = self.ll, self.batch
        ll.llama_memory_clear(self.mem, True)
        batch.n_tokens = 0
        for seq, i in enumerate(group):
            for pos, token in enumerate(tokens[i]):
                k = batch.n_tokens
                batch.token[k], batch.pos[k], batch.n_seq_id[k], batch.seq_id[k][0] = token, pos, 1, seq
                batch.logits[k] = True  # embedding mode needs every token as an output
                batch.n_tokens += 1
        with self.engine_lock:
            code = ll.llama_decode(self.ctx, batch)
        if code != 0:
            raise BackendError(f"llama_decode failed while embedding (code {code}); lower --n-ctx")
        for seq, i in enumerate(group):
            pointer = ll.llama_get_embeddings_seq(self.ctx, seq)
            out[i] = np.ctypeslib.as_array(pointer, shape=(self.model.n_embd,))

    def close(self) -> None:
        self.ll.llama_batch_free(self.batch)
        self.ll.llama_free(self.ctx)


def _threads(config: BackendConfig) -> int:
    """An explicit ``--threads``, else the cores free now (see ``crescent.threads``)."""
    return config.threads or default_threads()


class LlamaCppBackend(BackendBase):
    """The default engine: ``config.batch_size`` sequences per decode step, each prompt evaluated once."""

    name = "llamacpp"
    overlapping_calls = True  # ``sample`` may be called from several threads; their jobs share slots

    def __init__(self, config: BackendConfig) -> None:
        import llama_cpp

        self.path = check_gguf(resolve_model(config.model))
        self.n_ctx = config.n_ctx
        self.threads = _threads(config)
        self.usage = Usage()
        self.model = GgufModel(str(self.path), llama_cpp)
        self.engine_lock = threading.Lock()  # decode steps and embedding batches take turns on the CPU
        self.decoder = BatchDecoder(
            llama_cpp,
            self.model.model,
            self.model.vocab,
            n_seq=config.batch_size,
            n_ctx=config.n_ctx,
            threads=self.threads,
            usage=self.usage,
            engine_lock=self.engine_lock,
            watch=None if config.threads else FreeCoreWatch(),
        )
        self._embedder: _Embedder | None = None
        self._embedder_lock = threading.Lock()

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[list[Completion]]:
        prompts = [self.model.chat_tokens(request.messages) for request in requests]
        jobs = [
            Job(i, j, derive_seed(r.seed, r.first_index + j))
            for i, r in enumerate(requests)
            for j in range(r.n)
        ]
        done = self.decoder.run(prompts, jobs, params)
        out: list[list[Completion]] = [[] for _ in requests]
        for job in jobs:
            out[job.prompt].append(done[job])
        return out

    def cancel_all(self) -> None:
        """Stop every ``sample`` call still running in other threads (they raise ``CallCancelled``)."""
        self.decoder.cancel_all()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.n_embd), dtype=np.float32)
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = _Embedder(
                    self.model, n_ctx=self.n_ctx, threads=self.threads, engine_lock=self.engine_lock
                )
            self._embedder.set_threads(self.decoder.threads)  # the decoder follows the free cores
            started = time.perf_counter()
            vectors = self._embedder.embed(list(texts))
            extra = self.usage.extra
            extra["embed_tokens"] = extra.get("embed_tokens", 0) + self._embedder.last_tokens
            extra["embed_s"] = round(extra.get("embed_s", 0.0) + time.perf_counter() - started, 3)
        return vectors

    def close(self) -> None:
        self.decoder.close()
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        self.model.close()


class SimpleLlamaCppBackend(BackendBase):
    """The fallback engine: one sequence at a time through ``llama_cpp.Llama``."""

    name = "llamacpp-simple"

    def __init__(self, config: BackendConfig) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.path = check_gguf(resolve_model(config.model))
        self.n_ctx = config.n_ctx
        self.threads = _threads(config)
        self.usage = Usage()
        self._embedder = None
        self.llm = self._open(embedding=False)

    def _open(self, *, embedding: bool):
        kwargs = dict(
            model_path=str(self.path),
            n_ctx=self.n_ctx,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            verbose=False,
            embedding=embedding,
        )
        if embedding:
            kwargs["pooling_type"] = self._llama_cpp.LLAMA_POOLING_TYPE_MEAN
            kwargs["n_batch"] = kwargs["n_ubatch"] = self.n_ctx
        try:
            with _quiet_stderr(), _plain_buffers_for_high_level_api(self._llama_cpp):
                return self._llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError) as exc:
            raise CrescentError(f"llama.cpp could not load {self.path} ({exc}); {_CORRUPT}") from exc

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[list[Completion]]:
        return [
            [self._complete(r, params, derive_seed(r.seed, r.first_index + j)) for j in range(r.n)]
            for r in requests
        ]

    def _complete(self, request: SampleRequest, params: SamplingParams, seed: int) -> Completion:
        try:
            response = self.llm.create_chat_completion(
                messages=list(request.messages),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                stop=list(params.stop) or None,
                seed=seed,
            )
        except ValueError as exc:  # e.g. the prompt does not fit the context window
            error = PromptTooLong if "context" in str(exc).lower() else BackendError
            raise error(f"llama.cpp refused a prompt: {exc}; {_TOO_LONG}") from exc
        choice = response["choices"][0]
        usage = response["usage"]
        self.usage.requests += 1
        self.usage.prompt_tokens += usage["prompt_tokens"]
        self.usage.completion_tokens += usage["completion_tokens"]
        return Completion(
            text=choice["message"]["content"] or "",
            tokens=usage["completion_tokens"],
            finish_reason=choice.get("finish_reason") or "stop",
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.llm.n_embd()), dtype=np.float32)
        if self._embedder is None:
            self._embedder = self._open(embedding=True)
        vectors = self._embedder.embed(list(texts), normalize=False, truncate=True)
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        for llm in (self.llm, self._embedder):
            if llm is not None:
                with contextlib.suppress(Exception):
                    llm.close()
