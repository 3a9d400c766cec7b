"""Many sequences per llama.cpp decode step, through llama-cpp-python's low-level API.

On a CPU one decode step costs about the same for 1 or 16 sequences up to the point
where the matrix products become compute bound, so sampling K votes (or a bait
batch) together is the cheap way to sample. Each request's prompt is evaluated
once and its KV cells are copied to the other sequences that sample from it; a
finished sequence's slot is refilled at once from the queue (continuous batching).
Prompts that merely *start* alike (every eval item behind the same few-shot turns,
every vote prompt behind the same instruction) share that common prefix the same
way: a new sequence copies the longest prefix some slot holds, or waits a step for
a slot that is evaluating it, and evaluates only the rest.

The KV cache has one stream per slot (``kv_unified=False``): a token attends only
to its own sequence's cells, so attention cost does not grow with the number of
sequences, and copying a prompt between streams is a cheap buffer copy.

Reproducibility: sample ``j`` of a request draws from its own RNG seeded with
``derive_seed(request.seed, j)``, whatever its slot or neighbours. The logits
themselves are computed per row, so in practice they do not depend on the batch
either, but llama.cpp does not promise bit-identical floats across batch shapes;
for a fixed ``batch_size`` and request list the schedule, and so the output, is
fully deterministic.
"""

from __future__ import annotations

import ctypes
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from crescent.backends.base import BackendError, Completion, SamplingParams, Usage

KV_ROUND = 256  # per-sequence KV capacity is rounded up to this many cells
MIN_STEP_TOKENS = 512  # tokens per decode call (prompt chunks + one per generating sequence)
MAX_COMPLETION_BYTES = 64_000  # model output is untrusted: never keep more than this per sample
MIN_SHARED_PREFIX = 16  # a shorter common prefix costs less to evaluate again than to copy or wait for


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True)
class Job:
    """Sample ``j`` of prompt ``prompt``; ``seed`` seeds this sample's own RNG."""

    prompt: int
    j: int
    seed: int


@dataclass
class _Seq:
    job: Job
    sampler: ctypes.c_void_p
    feed: list[int]  # tokens to evaluate at the next step
    pos: int  # cells of this slot's KV stream in use
    in_prompt: bool = True  # ``feed`` holds prompt tokens (counted as prefill)
    waiting_on: int | None = None  # slot evaluating a prefix of this sequence's prompt
    wait_for: int = 0  # cells of that slot's KV to copy once they are evaluated
    logit_idx: int = -1
    generated: int = 0
    data: bytearray = field(default_factory=bytearray)


class BatchDecoder:
    """Decode jobs over ``n_seq`` KV slots of one context; sized lazily to the longest job."""

    def __init__(self, llama_cpp, model, vocab, *, n_seq: int, n_ctx: int, threads: int) -> None:
        self.ll = llama_cpp
        self.model = model
        self.vocab = vocab
        self.n_seq = max(1, min(n_seq, llama_cpp.llama_max_parallel_sequences()))
        self.n_ctx = n_ctx  # the most cells one sequence may use
        self.threads = threads
        self.step_tokens = max(MIN_STEP_TOKENS, self.n_seq)
        self.ctx = None
        self.capacity = 0  # cells per sequence of the current context
        self.batch = llama_cpp.llama_batch_init(self.step_tokens, 0, 1)
        self._pieces: dict[int, bytes] = {}

    # --- context -------------------------------------------------------------------------------------

    def _ensure_context(self, cells: int) -> None:
        """(Re)create the context when a job needs more cells per sequence than it has; never shrink."""
        need = min(self.n_ctx, -(-cells // KV_ROUND) * KV_ROUND)
        if self.ctx is not None and need <= self.capacity:
            return
        self._free_context()
        params = self.ll.llama_context_default_params()
        params.n_ctx = need * self.n_seq
        params.n_seq_max = self.n_seq
        params.kv_unified = False
        params.n_batch = params.n_ubatch = self.step_tokens
        params.n_threads = params.n_threads_batch = self.threads
        params.no_perf = True
        ctx = self.ll.llama_init_from_model(self.model, params)
        if ctx is None:
            raise BackendError(
                f"llama.cpp could not allocate a context for {self.n_seq} sequences x {need} tokens;"
                " lower --batch-size or --n-ctx"
            )
        self.ctx, self.capacity = ctx, self.ll.llama_n_ctx_seq(ctx)
        self.mem = self.ll.llama_get_memory(ctx)

    def _free_context(self) -> None:
        if self.ctx is not None:
            self.ll.llama_free(self.ctx)
            self.ctx, self.capacity = None, 0

    def close(self) -> None:
        self._free_context()
        if self.batch is not None:
            self.ll.llama_batch_free(self.batch)
            self.batch = None

    # --- sampling ------------------------------------------------------------------------------------

    def _sampler(self, params: SamplingParams, seed: int):
        ll = self.ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if params.temperature <= 0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
            return chain
        # temperature before top-p, as in transformers and the OpenAI API
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(params.temperature))
        if params.top_p < 1.0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(256)
            n = self.ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
            piece = buf.raw[: max(n, 0)]
            self._pieces[token] = piece
        return piece

    # --- the loop ------------------------------------------------------------------------------------

    def run(
        self, prompts: Sequence[list[int]], jobs: Sequence[Job], params: SamplingParams, usage: Usage
    ) -> dict[Job, Completion]:
        """Decode every job and return its completion; adjacent jobs of one prompt share its evaluation."""
        if not jobs:
            return {}
        longest = max(len(prompts[job.prompt]) for job in jobs)
        self._ensure_context(longest + params.max_tokens + 1)
        if longest >= self.capacity:
            raise BackendError(
                f"a prompt of {longest} tokens does not fit the context window ({self.capacity});"
                " raise --n-ctx or shorten the prompt"
            )
        self.ll.llama_memory_clear(self.mem, True)
        self.prompts, self.params, self.usage = prompts, params, usage
        self.cells: list[list[int]] = [[] for _ in range(self.n_seq)]  # tokens in each slot's KV
        self.slots: list[_Seq | None] = [None] * self.n_seq
        self.results: dict[Job, Completion] = {}
        queue = deque(jobs)
        try:
            while queue or any(self.slots):
                self._fill(queue)
                self._step()
        finally:
            for seq in self.slots:
                if seq is not None:
                    self.ll.llama_sampler_free(seq.sampler)
        return self.results

    def _fill(self, queue: deque[Job]) -> None:
        """Give every free slot the next job, starting from the longest prefix of its prompt in reach."""
        while queue and None in self.slots:
            job = queue.popleft()
            prompt = self.prompts[job.prompt]
            free = [s for s, seq in enumerate(self.slots) if seq is None]
            slot = max(free, key=lambda s: common_prefix_length(self.cells[s], prompt))
            seq = _Seq(job, self._sampler(self.params, job.seed), feed=[], pos=0)
            self.slots[slot] = seq
            source, shared = self._evaluated_prefix(prompt)
            pending, coming = self._pending_prefix(prompt, exclude=slot)
            if pending is not None and coming >= shared + MIN_SHARED_PREFIX:
                seq.waiting_on, seq.wait_for = pending, coming
                self.cells[slot] = []  # its KV is replaced on release: nobody may copy it meanwhile
                continue
            keep = min(shared, len(prompt) - 1)
            if source == slot or keep >= MIN_SHARED_PREFIX:
                self._fork(source, slot, keep)
            else:
                keep = 0
                self.ll.llama_memory_seq_rm(self.mem, slot, -1, -1)
                self.cells[slot] = []
            seq.feed, seq.pos = list(prompt[keep:]), keep

    def _evaluated_prefix(self, prompt: list[int]) -> tuple[int | None, int]:
        """The slot whose evaluated KV starts with the longest prefix of ``prompt``, and that length."""
        best, length = None, 0
        for s in range(self.n_seq):
            n = common_prefix_length(self.cells[s], prompt)
            if n > length:
                best, length = s, n
        return best, length

    def _pending_prefix(self, prompt: list[int], exclude: int) -> tuple[int | None, int]:
        """The slot whose prompt, still being evaluated, will hold the longest prefix of ``prompt``."""
        best, length = None, 0
        for s, seq in enumerate(self.slots):
            if s == exclude or seq is None or not seq.in_prompt or seq.waiting_on is not None:
                continue
            n = common_prefix_length(self.cells[s] + seq.feed, prompt)
            if n > length:
                best, length = s, n
        return best, length

    def _fork(self, source: int, slot: int, keep: int) -> None:
        """Make ``slot``'s KV the first ``keep`` cells of ``source``'s (a stream copy, then a trim)."""
        if source != slot:
            self.ll.llama_memory_seq_rm(self.mem, slot, -1, -1)
            self.ll.llama_memory_seq_cp(self.mem, source, slot, -1, -1)
            self.cells[slot] = list(self.cells[source])
        self.ll.llama_memory_seq_rm(self.mem, slot, keep, -1)
        del self.cells[slot][keep:]

    def _step(self) -> None:
        batch, budget = self.batch, self.step_tokens
        batch.n_tokens = 0
        added: dict[int, int] = {}
        # one token for every generating sequence first, then prompt chunks with what is left
        order = sorted(
            (s for s, seq in enumerate(self.slots) if seq is not None and seq.feed),
            key=lambda s: len(self.slots[s].feed) > 1,
        )
        for s in order:
            seq = self.slots[s]
            take = min(len(seq.feed), budget - batch.n_tokens)
            if take <= 0:
                break
            for k in range(take):
                i = batch.n_tokens
                batch.token[i], batch.pos[i] = seq.feed[k], seq.pos + k
                batch.n_seq_id[i], batch.seq_id[i][0] = 1, s
                batch.logits[i] = k == take - 1 and take == len(seq.feed)
                batch.n_tokens += 1
            added[s] = take
        if not batch.n_tokens:  # every active sequence waits on a prompt nobody evaluates: a scheduler bug
            raise RuntimeError("batched decoder stalled: no sequence has tokens to evaluate")
        started = time.perf_counter()
        code = self.ll.llama_decode(self.ctx, batch)
        self._profile(started, generating=sum(1 for s in order if len(self.slots[s].feed) == 1))
        if code != 0:
            raise BackendError(f"llama_decode failed (code {code}); lower --batch-size or raise --n-ctx")
        offset = 0
        for s in order:
            seq = self.slots[s]
            take = added.get(s, 0)
            if seq.in_prompt:
                self.usage.prefill_tokens += take
            seq.pos += take
            seq.logit_idx = offset + take - 1 if take == len(seq.feed) else -1
            self.cells[s].extend(seq.feed[:take])
            seq.feed = seq.feed[take:]
            offset += take
        self._release_waiters()
        for s in order:
            seq = self.slots[s]
            if seq is not None and seq.logit_idx >= 0:
                self._advance(s, seq.logit_idx)

    def _profile(self, started: float, generating: int) -> None:
        """Where decode time goes: ``decode_s`` inside llama.cpp, and how full the steps were.

        ``slot_occupancy`` (= ``generating_slot_steps / (decode_steps * slots)``) below 1 means
        steps ran with idle slots: at the end of a call, or while prompts were being evaluated.
        """
        extra = self.usage.extra
        extra["decode_s"] = round(extra.get("decode_s", 0.0) + time.perf_counter() - started, 3)
        extra["decode_steps"] = extra.get("decode_steps", 0) + 1
        extra["generating_slot_steps"] = extra.get("generating_slot_steps", 0) + generating
        extra["slots"] = self.n_seq
        extra["slot_occupancy"] = round(
            extra["generating_slot_steps"] / (extra["decode_steps"] * self.n_seq), 4
        )

    def _release_waiters(self) -> None:
        """Waiters whose prefix is now evaluated copy it; a waiter on its whole prompt shares the logits."""
        for s, seq in enumerate(self.slots):
            if seq is None or seq.waiting_on is None:
                continue
            source = seq.waiting_on
            evaluated = len(self.cells[source])
            if evaluated < seq.wait_for:
                continue
            prompt = self.prompts[seq.job.prompt]
            logits = self.slots[source].logit_idx
            seq.waiting_on = None
            if seq.wait_for == len(prompt) == evaluated and logits >= 0:
                self._fork(source, s, keep=len(prompt))
                seq.pos = len(prompt)
                self._advance(s, logits)
            else:
                keep = min(seq.wait_for, len(prompt) - 1)
                self._fork(source, s, keep)
                seq.feed, seq.pos = list(prompt[keep:]), keep

    def _advance(self, slot: int, logit_idx: int) -> None:
        """Sample the next token of the sequence in ``slot``; finish it or queue the token."""
        seq = self.slots[slot]
        ll, params = self.ll, self.params
        token = ll.llama_sampler_sample(seq.sampler, self.ctx, logit_idx)
        seq.in_prompt = False
        if ll.llama_vocab_is_eog(self.vocab, token):
            return self._finish(slot, "stop")
        seq.generated += 1
        seq.data += self._piece(token)
        if params.stop and self._cut_at_stop(seq):
            return self._finish(slot, "stop")
        if seq.generated >= params.max_tokens or seq.pos >= self.capacity:
            return self._finish(slot, "length")
        if len(seq.data) > MAX_COMPLETION_BYTES:
            del seq.data[MAX_COMPLETION_BYTES:]
            return self._finish(slot, "length")
        seq.feed = [token]

    def _cut_at_stop(self, seq: _Seq) -> bool:
        text = seq.data.decode("utf-8", errors="ignore")
        hits = [i for i in (text.find(stop) for stop in self.params.stop if stop) if i >= 0]
        if not hits:
            return False
        seq.data = bytearray(text[: min(hits)].encode("utf-8"))
        return True

    def _finish(self, slot: int, reason: str) -> None:
        seq = self.slots[slot]
        text = seq.data.decode("utf-8", errors="ignore")
        self.results[seq.job] = Completion(text=text, tokens=seq.generated, finish_reason=reason)
        self.usage.completion_tokens += seq.generated
        self.ll.llama_sampler_free(seq.sampler)
        self.slots[slot] = None
