"""The llama.cpp backends on the real embedded SmolLM2 GGUF: short generations, so the file stays fast.

threads=1 everywhere: on a shared 2-core machine two spinning OpenMP threads per process slow llama.cpp
down by an order of magnitude when another process is busy, and one thread is enough for a 135M model.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from crescent.backends import create_backend
from crescent.backends.base import PromptTooLong, SampleRequest, SamplingParams, derive_seed
from crescent.backends.llamacpp import LlamaCppBackend, SimpleLlamaCppBackend
from crescent.backends.llamacpp_batch import CallCancelled, common_prefix_length
from crescent.config import BackendConfig

pytestmark = pytest.mark.slow

ADD = ({"role": "user", "content": "What is 2+3? Answer briefly."},)
WRITE = ({"role": "user", "content": "Write a short math word problem."},)
COLORS = ({"role": "user", "content": "Name three colors and say why you like them."},)
SHORT = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=12)


def _config(batch_size: int) -> BackendConfig:
    return BackendConfig(batch_size=batch_size, n_ctx=512, threads=1)


@pytest.fixture(scope="module")
def backend():
    backend = create_backend(_config(4))
    yield backend
    backend.close()


def _texts(completions) -> list[str]:
    return [c.text for c in completions]


def test_default_llamacpp_backend_is_the_batched_engine(backend) -> None:
    assert isinstance(backend, LlamaCppBackend)


def test_completions_are_nonempty_and_respect_max_tokens(backend) -> None:
    (completions,) = backend.sample([SampleRequest(WRITE, n=3, seed=1)], SHORT)
    assert len(completions) == 3
    for c in completions:
        assert c.text.strip()
        assert 1 <= c.tokens <= SHORT.max_tokens
        assert c.finish_reason == ("length" if c.tokens == SHORT.max_tokens else "stop")
    assert any(c.finish_reason == "length" for c in completions)  # 12 tokens cannot finish a word problem


def test_same_seed_same_text_and_different_seed_different_text(backend) -> None:
    first = backend.sample([SampleRequest(WRITE, n=2, seed=7)], SHORT)[0]
    again = backend.sample([SampleRequest(WRITE, n=2, seed=7)], SHORT)[0]
    other = backend.sample([SampleRequest(WRITE, n=2, seed=8)], SHORT)[0]
    assert _texts(first) == _texts(again)
    assert _texts(first) != _texts(other)
    assert first[0].text != first[1].text  # samples j=0 and j=1 draw from different seeds


def test_samples_of_one_request_share_one_prompt_evaluation(backend) -> None:
    prompt_len = len(backend.model.chat_tokens(ADD))
    before = (backend.usage.prefill_tokens, backend.usage.prompt_tokens)
    greedy = SamplingParams(temperature=0.0, max_tokens=8)
    (completions,) = backend.sample([SampleRequest(ADD, n=4, seed=3)], greedy)
    # at most one evaluation (less when an earlier call left the chat template's opening in a slot)
    assert 0 < backend.usage.prefill_tokens - before[0] <= prompt_len
    assert backend.usage.prompt_tokens - before[1] == 4 * prompt_len
    # greedy decoding from copied KV caches must match the sequence that evaluated the prompt
    assert len(set(_texts(completions))) == 1 and "5" in completions[0].text


def test_each_sample_keeps_its_own_seed_whatever_its_slot_and_neighbours(monkeypatch) -> None:
    """Beside another request in 2 slots (so slots are refilled mid-run), sample j of a request still draws
    from derive_seed(seed, j), and the same call on a fresh backend of the same shape gives the same texts.

    Texts are *not* compared with the request decoded alone: llama.cpp does not promise bit-identical
    logits across batch shapes ("Reproducibility" in llamacpp_batch.py), and on CPUs whose kernels depend
    on the batch size (seen on a CI machine) a near-tied token flips and the texts part.
    """
    requests = [SampleRequest(COLORS, n=2, seed=3), SampleRequest(WRITE, n=3, seed=11)]
    crowded = create_backend(_config(2))
    again = create_backend(_config(2))
    seeds: list[int] = []
    make_sampler = crowded.decoder._sampler

    def recording_sampler(params: SamplingParams, seed: int):
        seeds.append(seed)
        return make_sampler(params, seed)

    monkeypatch.setattr(crowded.decoder, "_sampler", recording_sampler)
    try:
        mixed = crowded.sample(requests, SHORT)
        assert sorted(seeds) == sorted(derive_seed(r.seed, j) for r in requests for j in range(r.n))
        assert [len(c) for c in mixed] == [2, 3] and all(c.text for cs in mixed for c in cs)
        assert [_texts(c) for c in again.sample(requests, SHORT)] == [_texts(c) for c in mixed]
        # refilled slots fork the prompt from a slot that holds it: far fewer than 5 prompt evaluations
        prompts = len(crowded.model.chat_tokens(COLORS)) + len(crowded.model.chat_tokens(WRITE))
        assert crowded.usage.prefill_tokens < prompts + 5
    finally:
        crowded.close()
        again.close()


def _behind_shots(question: str) -> tuple[dict[str, str], ...]:
    shots = (
        ("Tom has 3 apples and buys 5 more. How many apples does he have?", "3 + 5 = 8. The answer is 8."),
        ("A box holds 12 eggs. How many eggs are in 4 boxes?", "12 * 4 = 48. The answer is 48."),
    )
    turns = [
        {"role": role, "content": text} for q, a in shots for role, text in (("user", q), ("assistant", a))
    ]
    return (*turns, {"role": "user", "content": question})


def test_prompts_with_a_common_prefix_evaluate_it_once() -> None:
    """Few-shot eval: items behind the same worked examples copy those cells instead of re-evaluating."""
    questions = ["What is 7 + 6?", "Sam had 10 pens and lost 4. How many are left?", "What is 9 * 3?"]
    requests = [SampleRequest(_behind_shots(q), n=1, seed=i) for i, q in enumerate(questions)]
    greedy = SamplingParams(temperature=0.0, max_tokens=10)
    shared = create_backend(_config(2))  # 3 prompts over 2 slots: waiting, then copying from a done slot
    try:
        together = _texts(c for (c,) in shared.sample(requests, greedy))
        prompts = [shared.model.chat_tokens(r.messages) for r in requests]
        common = min(common_prefix_length(prompts[0], p) for p in prompts[1:])
        assert common > 60
        assert (
            shared.usage.prefill_tokens
            <= sum(prompts_len - common for prompts_len in map(len, prompts)) + common + 3
        )
        one_by_one = [_texts(shared.sample([r], greedy)[0])[0] for r in requests]
        assert together == one_by_one
        profile = shared.usage.extra  # 2 slots, 3 prompts of 10 tokens: some steps had a slot idle
        assert profile["decode_steps"] >= 10 and profile["decode_s"] > 0
        assert 0.5 < profile["slot_occupancy"] < 1.0
    finally:
        shared.close()


def test_calls_from_two_threads_overlap_and_match_the_same_calls_made_alone() -> None:
    backend = create_backend(_config(2))
    greedy = SamplingParams(temperature=0.0, max_tokens=10)
    first, second = [SampleRequest(ADD, n=2, seed=1)], [SampleRequest(COLORS, n=3, seed=2)]
    try:
        alone = [_texts(backend.sample(first, greedy)[0]), _texts(backend.sample(second, greedy)[0])]
        tokens_alone = backend.usage.completion_tokens
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(backend.sample, requests, greedy) for requests in (first, second)]
            together = [_texts(future.result(timeout=120)[0]) for future in futures]
        assert together == alone
        assert backend.usage.completion_tokens == 2 * tokens_alone
    finally:
        backend.close()


def test_a_short_call_returns_while_a_long_call_is_still_driving_the_loop() -> None:
    backend = create_backend(_config(4))
    story = ({"role": "user", "content": "Write a long story about a dragon who learns to cook."},)
    finished: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            long_call = [SampleRequest(story, n=2, seed=1)]
            long = pool.submit(backend.sample, long_call, SamplingParams(1.0, 1.0, 300))
            long.add_done_callback(lambda _: finished.append("long"))
            deadline = time.monotonic() + 60
            while backend.usage.extra.get("decode_steps", 0) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            short_call = [SampleRequest(ADD, n=1, seed=0)]
            short = pool.submit(backend.sample, short_call, SamplingParams(0.0, 1.0, 4))
            short.add_done_callback(lambda _: finished.append("short"))
            assert short.result(timeout=120)[0][0].tokens <= 4
            long.result(timeout=300)
        assert finished == ["short", "long"]  # it did not wait for the driver's own call to end
    finally:
        backend.close()


def test_cancel_all_stops_a_running_call_and_leaves_the_backend_usable() -> None:
    backend = create_backend(_config(2))
    long = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=400)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(backend.sample, [SampleRequest(COLORS, n=6, seed=1)], long)
            deadline = time.monotonic() + 60
            while backend.usage.extra.get("decode_steps", 0) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            backend.cancel_all()
            with pytest.raises(CallCancelled):
                future.result(timeout=60)
        assert backend.usage.completion_tokens < 6 * 400
        (completions,) = backend.sample([SampleRequest(ADD, n=1, seed=0)], SamplingParams(0.0, 1.0, 8))
        assert "5" in completions[0].text
    finally:
        backend.close()


def test_stress_many_overlapping_calls_with_cancellations_answer_each_request_once() -> None:
    """12 threads, 36 calls of 1-3 requests, cancel_all fired mid-way: every call either returns exactly
    its requests' completions or raises CallCancelled, and afterwards no slot or queued job is left."""
    backend = create_backend(_config(3))
    prompts = [ADD, WRITE, COLORS]
    outcomes: list[str] = []

    def call(i: int) -> str:
        requests = [
            SampleRequest(prompts[(i + k) % 3], n=1 + (i + k) % 2, seed=i * 10 + k) for k in range(1 + i % 3)
        ]
        params = SamplingParams(1.0, 0.95, 3 + i % 5)
        try:
            results = backend.sample(requests, params)
        except CallCancelled:
            return "cancelled"
        assert [len(r) for r in results] == [r.n for r in requests]
        assert all(0 < c.tokens <= params.max_tokens for r in results for c in r)
        return "done"

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            futures = [pool.submit(call, i) for i in range(36)]
            deadline = time.monotonic() + 60
            while backend.usage.extra.get("decode_steps", 0) < 5 and time.monotonic() < deadline:
                time.sleep(0.005)
            backend.cancel_all()
            outcomes = [f.result(timeout=300) for f in futures]
        decoder = backend.decoder
        assert all(slot is None for slot in decoder.slots) and not decoder.queue and not decoder.calls
        assert "done" in outcomes  # calls after the cancellation still ran
        (after,) = backend.sample([SampleRequest(ADD, n=2, seed=0)], SamplingParams(0.0, 1.0, 4))
        assert len(after) == 2
    finally:
        backend.close()
    assert len(outcomes) == 36


def test_stop_string_cuts_the_text(backend) -> None:
    params = SamplingParams(temperature=0.0, max_tokens=16, stop=(" is",))
    (completions,) = backend.sample([SampleRequest(ADD, n=1, seed=0)], params)
    assert completions[0].text == "The answer"
    assert completions[0].finish_reason == "stop"


def test_prompt_longer_than_the_context_is_refused(backend) -> None:
    """As its own error, so a driver skips that one item (``pipeline.tasks``) instead of the whole run."""
    huge = ({"role": "user", "content": "seven " * 600},)
    with pytest.raises(PromptTooLong, match="n-ctx"):
        backend.sample([SampleRequest(huge, n=1, seed=0)], SHORT)


def test_embed_shape_and_identical_texts(backend) -> None:
    texts = ["Tom has 3 apples and buys 5 more. How many apples?", "What is the capital of France?"]
    before = backend.usage.extra.get("embed_tokens", 0)
    vectors = backend.embed([texts[0], texts[1], texts[0]])
    assert 20 < backend.usage.extra["embed_tokens"] - before < 40  # two distinct short texts, once each
    assert vectors.shape == (3, 576) and vectors.dtype == np.float32
    assert np.array_equal(vectors[0], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])
    # in another batch a text's cells sit elsewhere, which changes float summation order only
    np.testing.assert_allclose(backend.embed([texts[0]])[0], vectors[0], rtol=1e-4, atol=1e-4)
    assert backend.embed([]).shape == (0, 576)


def test_simple_fallback_path_samples_and_embeds_like_the_batched_one(backend) -> None:
    simple = SimpleLlamaCppBackend(_config(4))
    try:
        (completions,) = simple.sample([SampleRequest(ADD, n=2, seed=5)], SHORT)
        assert len(completions) == 2 and all(c.text.strip() and c.tokens <= 12 for c in completions)
        text = "Tom has 3 apples and buys 5 more. How many apples?"
        a, b = simple.embed([text])[0], backend.embed([text])[0]
        assert a.shape == (576,)
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.999  # one dedup threshold fits both
    finally:
        simple.close()


def test_votes_of_a_queued_question_wait_for_its_whole_prompt_not_just_the_shared_part() -> None:
    """3 questions x 3 votes in 9 slots: each question's own tokens are evaluated once, not once per vote."""
    questions = ["What is 7 + 6?", "Sam had 10 pens and lost 4. How many are left?", "What is 9 * 3?"]
    requests = [SampleRequest(_behind_shots(q), n=3, seed=i) for i, q in enumerate(questions)]
    backend = create_backend(_config(9))
    try:
        backend.sample(requests, SamplingParams(temperature=1.0, top_p=0.95, max_tokens=6))
        prompts = [backend.model.chat_tokens(r.messages) for r in requests]
        common = min(common_prefix_length(prompts[0], p) for p in prompts[1:])
        once_each = common + sum(len(p) - common for p in prompts)
        assert backend.usage.prefill_tokens <= once_each + 3
        assert backend.usage.prompt_tokens == 3 * sum(len(p) for p in prompts)
    finally:
        backend.close()


class _FlippingWatch:
    """A free-core watch that answers 1, 2, 1, 2 ... cores at every decode step."""

    def __init__(self) -> None:
        self.calls = 0

    def poll(self) -> int:
        self.calls += 1
        return 1 + self.calls % 2


def test_default_threads_follow_the_free_cores_between_decode_steps() -> None:
    """Without --threads the decoder re-checks the free cores during a call; the text does not change."""
    fixed = create_backend(_config(4))
    expected = _texts(fixed.sample([SampleRequest(ADD, n=3, seed=5)], SHORT)[0])
    fixed.close()
    following = LlamaCppBackend(BackendConfig(batch_size=4, n_ctx=512))
    assert following.decoder.watch is not None  # threads left to the default
    following.decoder.watch = watch = _FlippingWatch()
    assert _texts(following.sample([SampleRequest(ADD, n=3, seed=5)], SHORT)[0]) == expected
    assert watch.calls >= 2 and following.usage.extra["thread_changes"] >= 2
    assert following.decoder.threads in (1, 2)
    following.close()


def test_sequences_sampled_by_parallel_workers_get_the_tokens_of_a_serial_loop() -> None:
    """Two decode threads sample the sequences two at a time; a copy forced to sample one after another
    draws the same tokens (own sampler and RNG per sequence, logits only read)."""
    requests = [SampleRequest(WRITE, n=3, seed=21), SampleRequest(COLORS, n=2, seed=4)]
    parallel = LlamaCppBackend(BackendConfig(batch_size=4, n_ctx=512, threads=2))
    serial = LlamaCppBackend(BackendConfig(batch_size=4, n_ctx=512, threads=2))
    decoder = serial.decoder
    decoder._sample_tokens = lambda slots: [  # type: ignore[method-assign]
        decoder.ll.llama_sampler_sample(decoder.slots[s].sampler, decoder.ctx, decoder.slots[s].logit_idx)
        for s in slots
    ]
    try:
        expected = [_texts(r) for r in serial.sample(requests, SHORT)]
        assert [_texts(r) for r in parallel.sample(requests, SHORT)] == expected
        assert parallel.decoder._samplers_pool is not None  # the workers did sample
    finally:
        parallel.close()
        serial.close()


def test_an_explicit_thread_count_is_never_changed() -> None:
    backend = create_backend(_config(2))
    assert backend.decoder.watch is None
    backend.close()
