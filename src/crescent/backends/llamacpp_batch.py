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

Calls overlap: ``run`` may be called from several threads at once (the local
executor keeps two calls in flight). Their jobs join one queue and one set of
slots, so when one call's last sequences drain, the next call's sequences
already fill the free slots; without that, a call's long-tailed last sequences
leave most slots idle (benchmarks/README.md, "Design measurements"). One caller at a
time drives the loop until its own call is done, then hands it to a waiting
caller; a caller whose call the driver finished returns at once; the KV cells of every slot stay valid
across calls, so a shared prefix (the bait prompt, few-shot turns) is reused.

Concurrency contract (what every change to this file must keep):

1. State. ``queue`` (jobs not yet in a slot) and ``calls`` (open calls) change only under ``_state``;
   ``slots``, ``cells``, the context and the batch are touched only by the thread that drives.
2. Driving. Exactly one thread drives at a time: ``_driving`` is set and cleared under ``_handover``
   (``_take_the_wheel`` / ``_hand_over``). A caller waits on ``_handover`` until it may drive or until
   its own call is no longer open; the driver loops until *its* call is closed, then hands over and
   wakes every waiter, so a waiter whose call the driver finished returns without driving.
3. Answered once. A job leaves ``queue`` into exactly one slot; its slot is freed when it delivers its
   completion into ``call.results`` (``remaining`` drops by one) or when its call is cancelled or failed.
   ``run`` returns ``call.results`` (all jobs), or raises ``CallCancelled`` or the step's error; never
   both, never a partial result.
4. Cancellation. ``cancel_all`` only marks calls cancelled and wakes waiters; the driver drops their
   queued jobs and frees their slots at its next step, so cancelling never races with decoding.
5. Failure. A failed decode step fails *every* open call (the KV state is unknown) and clears all
   slots and the KV memory; the backend stays usable for the next call.
6. No leak. When no call is open, every slot is empty and ``queue`` is empty
   (``tests/backends/test_llamacpp.py``'s stress test checks this after many overlapping calls with
   cancellations and early stops).

Sampling: after each decode step every generating sequence samples its next token from its own sampler
chain. Over a large vocabulary that is real work done while the decode threads sleep (temperature +
top-p over Qwen2.5's 151,936 tokens: 1.5–4 ms a sequence), so the sequences are sampled by up to
``threads`` workers at once (``_sample_tokens``): the ctypes call releases the GIL, each sequence has its
own sampler and RNG, and the logits are only read, so the tokens are exactly those of a serial loop.

Reproducibility: sample ``j`` of a request draws from its own RNG seeded with
``derive_seed(request.seed, request.first_index + j)``, whatever its slot, neighbours or call. The
logits are computed per row, so in practice they do not depend on the batch
either, but llama.cpp does not promise bit-identical floats across batch shapes
or between a copied and a recomputed prefix: the same request can, rarely, decode
differently beside different neighbours.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crescent.backends.base import BackendError, Completion, PromptTooLong, SamplingParams, Usage

if TYPE_CHECKING:
    from crescent.threads import FreeCoreWatch

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


class CallCancelled(BackendError):
    """The call was cancelled (its results were no longer wanted) before it finished."""


class _Call:
    """One ``run``: its prompts and sampling params, and the results its sequences deliver."""

    def __init__(self, prompts: Sequence[list[int]], jobs: Sequence[Job], params: SamplingParams, need: int):
        self.prompts, self.params, self.need = prompts, params, need
        self.results: dict[Job, Completion] = {}
        self.remaining = len(jobs)
        self.error: BaseException | None = None
        self.cancelled = False

    @property
    def open(self) -> bool:
        return self.remaining > 0 and self.error is None and not self.cancelled


@dataclass
class _Seq:
    call: _Call
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

    @property
    def prompt(self) -> list[int]:
        return self.call.prompts[self.job.prompt]

    @property
    def params(self) -> SamplingParams:
        return self.call.params


class BatchDecoder:
    """Decode jobs over ``n_seq`` KV slots of one context; sized lazily to the longest job."""

    def __init__(
        self,
        llama_cpp,
        model,
        vocab,
        *,
        n_seq: int,
        n_ctx: int,
        threads: int,
        usage: Usage,
        engine_lock: threading.Lock | None = None,
        watch: FreeCoreWatch | None = None,
    ) -> None:
        self.ll = llama_cpp
        self.model = model
        self.vocab = vocab
        self.n_seq = max(1, min(n_seq, llama_cpp.llama_max_parallel_sequences()))
        self.n_ctx = n_ctx  # the most cells one sequence may use
        self.threads = threads
        self.watch = watch  # default thread count only: re-checked as other jobs start and end
        self.step_tokens = max(MIN_STEP_TOKENS, self.n_seq)
        self.ctx = None
        self.capacity = 0  # cells per sequence of the current context
        self.batch = llama_cpp.llama_batch_init(self.step_tokens, 0, 1)
        self._pieces: dict[int, bytes] = {}
        self._samplers_pool: ThreadPoolExecutor | None = None  # made on first use, by _sample_tokens
        self.usage = usage
        self.usage.extra.setdefault(
            "threads_start", threads
        )  # what the run began with (a benchmark reads it)
        self.engine_lock = engine_lock or threading.Lock()  # one llama.cpp computation at a time
        self._handover = threading.Condition()  # who drives the loop; wakes callers whose call ended
        self._driving = False
        self._state = threading.Lock()  # guards the queue and the set of open calls
        self.queue: deque[tuple[_Call, Job]] = deque()
        self.calls: set[_Call] = set()
        self.slots: list[_Seq | None] = [None] * self.n_seq
        self.cells: list[list[int]] = [[] for _ in range(self.n_seq)]  # tokens in each slot's KV

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
        # llama.cpp picks flash attention by default; its CPU kernel is the slower one for our prompt
        # lengths (benchmarks/README.md, "Design measurements")
        params.flash_attn_type = self.ll.LLAMA_FLASH_ATTN_TYPE_DISABLED
        ctx = self.ll.llama_init_from_model(self.model, params)
        if ctx is None:
            raise BackendError(
                f"llama.cpp could not allocate a context for {self.n_seq} sequences x {need} tokens;"
                " lower --batch-size or --n-ctx"
            )
        self.ctx, self.capacity = ctx, self.ll.llama_n_ctx_seq(ctx)
        self.mem = self.ll.llama_get_memory(ctx)
        self.cells = [[] for _ in range(self.n_seq)]

    def _retune_threads(self) -> None:
        """Follow the free cores when the thread count was a default (``FreeCoreWatch``)."""
        wanted = self.watch.poll() if self.watch is not None else None
        if wanted is not None and wanted != self.threads:
            self.threads = wanted
            self.ll.llama_set_n_threads(self.ctx, wanted, wanted)
            self.usage.extra["thread_changes"] = self.usage.extra.get("thread_changes", 0) + 1

    def _free_context(self) -> None:
        if self.ctx is not None:
            self.ll.llama_free(self.ctx)
            self.ctx, self.capacity = None, 0

    def close(self) -> None:
        self.cancel_all()
        with self._handover:
            while self._driving:
                self._handover.wait()
            self._drop_cancelled()
        self._free_context()
        if self.batch is not None:
            self.ll.llama_batch_free(self.batch)
            self.batch = None
        if self._samplers_pool is not None:
            self._samplers_pool.shutdown(wait=True)
            self._samplers_pool = None

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
        self, prompts: Sequence[list[int]], jobs: Sequence[Job], params: SamplingParams
    ) -> dict[Job, Completion]:
        """Decode every job and return its completion; prompts that share a prefix share its evaluation."""
        if not jobs:
            return {}
        longest = max(len(prompts[job.prompt]) for job in jobs)
        if longest >= self.n_ctx:
            raise PromptTooLong(
                f"a prompt of {longest} tokens does not fit the context window ({self.n_ctx});"
                " raise --n-ctx or shorten the prompt"
            )
        call = _Call(prompts, jobs, params, need=longest + params.max_tokens + 1)
        with self._state:
            self.calls.add(call)
            self.queue.extend((call, job) for job in jobs)
        try:
            if self._take_the_wheel(call):
                try:
                    self.usage.requests += len({job.prompt for job in jobs})
                    self.usage.prompt_tokens += sum(len(prompts[job.prompt]) for job in jobs)
                    while call.open:
                        self._drop_cancelled()
                        self._fill()
                        if any(self.slots):
                            self._step()
                except BaseException as exc:
                    self._fail_all(exc)
                    raise
                finally:
                    self._hand_over()
        finally:
            with self._state:
                self.calls.discard(call)
        if call.error is not None:
            raise call.error
        if call.cancelled:
            raise CallCancelled("the call was cancelled before it finished")
        return call.results

    def _take_the_wheel(self, call: _Call) -> bool:
        """Wait until nobody drives (then drive: True) or until the driver has finished ``call`` (False)."""
        with self._handover:
            while self._driving and call.open:
                self._handover.wait()
            if not call.open:
                return False
            self._driving = True
            return True

    def _hand_over(self) -> None:
        with self._handover:
            self._driving = False
            self._handover.notify_all()

    def _wake_waiting_callers(self) -> None:
        with self._handover:
            self._handover.notify_all()

    def cancel_all(self) -> None:
        """Cancel every open call: queued jobs are dropped, running sequences stop at the next step."""
        with self._state:
            for call in self.calls:
                call.cancelled = True
        self._wake_waiting_callers()

    def _fail_all(self, exc: BaseException) -> None:
        """A failed decode step leaves the KV state unknown: fail every open call and start clean."""
        with self._state:
            for call in self.calls:
                call.error = call.error or exc
            self.queue.clear()
        self._wake_waiting_callers()
        for s, seq in enumerate(self.slots):
            if seq is not None:
                self.ll.llama_sampler_free(seq.sampler)
                self.slots[s] = None
        self.cells = [[] for _ in range(self.n_seq)]
        if self.ctx is not None:
            self.ll.llama_memory_clear(self.mem, True)

    def _drop_cancelled(self) -> None:
        with self._state:
            if any(call.cancelled for call, _ in self.queue):
                self.queue = deque(item for item in self.queue if not item[0].cancelled)
        freed = set()
        for s, seq in enumerate(self.slots):
            if seq is not None and seq.call.cancelled:
                self.ll.llama_sampler_free(seq.sampler)
                self.slots[s] = None
                self.cells[s] = []  # it may have stopped mid-prompt: its cells are not all known
                freed.add(s)
        for s, seq in enumerate(self.slots):
            if seq is not None and seq.waiting_on in freed:  # its source is gone: evaluate it all
                seq.waiting_on, seq.feed, seq.pos = None, list(seq.prompt), 0
                self.ll.llama_memory_seq_rm(self.mem, s, -1, -1)

    def _next_job(self) -> tuple[_Call, Job] | None:
        """The next queued job, once the context can hold it (it is grown only when every slot is idle)."""
        with self._state:
            if not self.queue:
                return None
            call = self.queue[0][0]
            if self.ctx is None or min(self.n_ctx, call.need) > self.capacity:
                if any(self.slots):
                    return None  # let the running sequences finish first
                self._ensure_context(call.need)
            return self.queue.popleft()

    def _fill(self) -> None:
        """Give every free slot the next job, starting from the longest prefix of its prompt in reach."""
        while None in self.slots:
            item = self._next_job()
            if item is None:
                return
            call, job = item
            prompt = call.prompts[job.prompt]
            free = [s for s, seq in enumerate(self.slots) if seq is None]
            slot = max(free, key=lambda s: common_prefix_length(self.cells[s], prompt))
            seq = _Seq(call, job, self._sampler(call.params, job.seed), feed=[], pos=0)
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
        """The slot whose prompt, still to be evaluated, will hold the longest prefix of ``prompt``.

        A slot that is itself waiting counts too: the K votes of a question queued behind another
        question wait for the one vote that evaluates their whole prompt, not for the shared
        instruction alone (which would make each of them evaluate the question's tokens again).
        """
        best, length = None, 0
        for s, seq in enumerate(self.slots):
            if s == exclude or seq is None or not seq.in_prompt:
                continue
            n = common_prefix_length(seq.prompt, prompt)
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
        with self.engine_lock:
            self._retune_threads()
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
        ready = [s for s in order if self.slots[s] is not None and self.slots[s].logit_idx >= 0]
        for s, token in zip(ready, self._sample_tokens(ready), strict=True):
            self._accept(s, token)

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
            prompt = seq.prompt
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

    def _sample_tokens(self, slots: list[int]) -> list[int]:
        """The next token of each sequence in ``slots``, sampled by up to ``threads`` workers at once.

        The first logits are read here, on the driving thread, so llama.cpp settles its output order
        before any worker reads; the workers then only read the logits and use their own samplers.
        """
        ll, ctx = self.ll, self.ctx
        work = [(self.slots[s].sampler, self.slots[s].logit_idx) for s in slots]
        workers = min(self.threads, len(work))
        if workers <= 1:
            return [ll.llama_sampler_sample(sampler, ctx, idx) for sampler, idx in work]
        ll.llama_get_logits_ith(ctx, work[0][1])
        if self._samplers_pool is None:
            from crescent.threads import usable_cores

            self._samplers_pool = ThreadPoolExecutor(usable_cores(), thread_name_prefix="crescent-sample")

        def sample(share: list[tuple[ctypes.c_void_p, int]]) -> list[int]:
            return [ll.llama_sampler_sample(sampler, ctx, idx) for sampler, idx in share]

        tokens = [0] * len(work)
        shares = [work[w::workers] for w in range(workers)]
        for w, sampled in enumerate(self._samplers_pool.map(sample, shares)):
            tokens[w::workers] = sampled
        return tokens

    def _advance(self, slot: int, logit_idx: int) -> None:
        """Sample the next token of the sequence in ``slot``; finish it or queue the token."""
        seq = self.slots[slot]
        self._accept(slot, self.ll.llama_sampler_sample(seq.sampler, self.ctx, logit_idx))

    def _accept(self, slot: int, token: int) -> None:
        """The sampled ``token`` of the sequence in ``slot``: finish it or queue the token."""
        seq = self.slots[slot]
        ll, params = self.ll, seq.params
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
        hits = [i for i in (text.find(stop) for stop in seq.params.stop if stop) if i >= 0]
        if not hits:
            return False
        seq.data = bytearray(text[: min(hits)].encode("utf-8"))
        return True

    def _finish(self, slot: int, reason: str) -> None:
        seq = self.slots[slot]
        text = seq.data.decode("utf-8", errors="ignore")
        seq.call.results[seq.job] = Completion(text=text, tokens=seq.generated, finish_reason=reason)
        seq.call.remaining -= 1
        if seq.call.remaining == 0:
            self._wake_waiting_callers()  # its caller may return now, while this one drives on
        self.usage.completion_tokens += seq.generated
        self.ll.llama_sampler_free(seq.sampler)
        self.slots[slot] = None
