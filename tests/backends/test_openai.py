"""The OpenAI-compatible backend against a scripted faulty server, and against a real llama.cpp server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from crescent.backends import create_backend
from crescent.backends.base import BackendError, PromptTooLong, SampleRequest, SamplingParams, derive_seed
from crescent.backends.fake import FakeBackend
from crescent.backends.openai import BudgetExhausted, OpenAIBackend, RetryPolicy
from crescent.config import BackendConfig, EvalConfig, GenerateConfig
from crescent.errors import CrescentError
from crescent.models import default_model_path

from .fault_server import CHAT, CONTEXT_DETAIL, EMBEDDINGS, PROMPT_TOKENS, FaultServer, chat_text, embedding
from .fault_server import TOKENS_PER_CHOICE as PER_CHOICE
from .llama_server import running_server

FAST = RetryPolicy(max_attempts=5, base_s=0.01, cap_s=0.05)
PARAMS = SamplingParams(temperature=0.7, top_p=0.9, max_tokens=16, stop=("\n\n",))
MESSAGES = ({"role": "user", "content": "What is 2 + 3?"},)


def make_backend(server: FaultServer, **kwargs) -> OpenAIBackend:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeout_s", 5.0)  # roomy: a busy CI machine must not turn a slow answer into a retry
    return OpenAIBackend(BackendConfig(backend="openai", base_url=server.url, model="m"), **kwargs)


@pytest.fixture
def backend_for() -> Iterator:
    """Build backends that are always closed, even when a test fails."""
    made: list[OpenAIBackend] = []

    def build(server: FaultServer, **kwargs) -> OpenAIBackend:
        made.append(make_backend(server, **kwargs))
        return made[-1]

    yield build
    for backend in made:
        backend.close()


def expected_single(seed: int, n: int) -> list[str]:
    """What a server that ignores ``n`` must yield: sample j comes from seed derive_seed(seed, j)."""
    return [chat_text(derive_seed(seed, j), 0) for j in range(n)]


def test_faults_are_retried_and_every_completion_arrives_exactly_once(backend_for) -> None:
    script = {CHAT: ["429", "500", "stall", "truncated"]}
    with FaultServer(script, max_n=1, stall_s=2.0) as server:
        backend = backend_for(server, concurrency=4, timeout_s=0.8)  # the stall must time out, nothing else
        requests = [SampleRequest(MESSAGES, n=n, seed=seed) for n, seed in [(2, 11), (3, 12), (1, 13)]]
        out = backend.sample(requests, PARAMS)
        assert [[c.text for c in comps] for comps in out] == [expected_single(r.seed, r.n) for r in requests]
        assert server.count(CHAT, "ok") == 6  # one success per completion: nothing fetched twice
        assert server.count(CHAT) == 10
        assert backend.usage.requests == 10 and backend.usage.extra["retries"] == 4
        assert backend.usage.completion_tokens == 6 * PER_CHOICE
        assert backend.usage.prompt_tokens == 6 * PROMPT_TOKENS
        assert all(c.tokens == PER_CHOICE and c.finish_reason == "stop" for comps in out for c in comps)
        sent = server.hits[-1].body
        assert [sent[k] for k in ("temperature", "top_p", "max_tokens", "stop")] == [0.7, 0.9, 16, ["\n\n"]]


def test_n_is_sent_once_when_the_server_honours_it(backend_for) -> None:
    with FaultServer() as server:
        backend = backend_for(server)
        (comps,) = backend.sample([SampleRequest(MESSAGES, n=4, seed=5)], PARAMS)
        first = derive_seed(5, 0)
        assert [c.text for c in comps] == [chat_text(first, i) for i in range(4)]  # sorted by index
        sent = server.hits[0].body
        assert server.count(CHAT) == 1 and (sent["n"], sent["seed"]) == (4, first)
        assert sum(c.tokens for c in comps) == 4 * PER_CHOICE


def test_a_short_choices_list_is_topped_up_with_seeded_single_requests(backend_for) -> None:
    with FaultServer(max_n=2) as server:
        backend = backend_for(server)
        (comps,) = backend.sample([SampleRequest(MESSAGES, n=5, seed=9)], PARAMS)
        first = derive_seed(9, 0)
        assert [c.text for c in comps] == [chat_text(first, 0), chat_text(first, 1)] + [
            chat_text(derive_seed(9, j), 0) for j in (2, 3, 4)
        ]
        assert [h.body["n"] for h in server.hits] == [5, 1, 1, 1]


@pytest.mark.parametrize("fault", ["500", "429", "truncated", "stall"])
def test_retries_stop_at_their_bound(backend_for, fault: str) -> None:
    with FaultServer(default=fault, stall_s=0.5) as server:
        backend = backend_for(server, retry=RetryPolicy(3, base_s=0.01, cap_s=0.02), timeout_s=0.2)
        with pytest.raises(BackendError, match=r"failed 3 times") as info:
            backend.sample([SampleRequest(MESSAGES, n=1, seed=1)], PARAMS)
        assert server.count(CHAT) == 3 and backend.usage.extra["retries"] == 2  # no sleep after the last
        assert "\n" not in str(info.value)
        if fault == "500":  # what the server said, as it said it
            assert "(last: HTTP 500: scripted 500;" in str(info.value)


def test_a_client_error_is_not_retried(backend_for) -> None:
    with FaultServer(default="404") as server:
        backend = backend_for(server)
        with pytest.raises(BackendError, match=r"HTTP 404.*--model"):
            backend.sample([SampleRequest(MESSAGES, n=2, seed=1)], PARAMS)
        assert server.count(CHAT) == 1


def test_a_prompt_longer_than_the_context_is_its_own_error_with_the_server_words_verbatim(
    backend_for,
) -> None:
    """So the driver can skip that one item; and the server's text is printed as sent, not escaped."""
    with FaultServer(default="context") as server:
        backend = backend_for(server)
        with pytest.raises(PromptTooLong) as info:
            backend.sample([SampleRequest(MESSAGES, n=1, seed=1)], PARAMS)
        assert server.count(CHAT) == 1  # not retried
    message = str(info.value)
    assert "maximum context length is 2048 tokens [/b]; " + CONTEXT_DETAIL in message
    assert "\\[" not in message and "HTTP 400" in message and server.url in message


def test_a_server_that_is_down_is_named_without_class_names() -> None:
    with pytest.raises(BackendError) as info:
        backend = OpenAIBackend(
            BackendConfig(backend="openai", base_url="http://127.0.0.1:9/v1"),
            retry=RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.01),
        )
        try:
            backend.sample([SampleRequest(MESSAGES, n=1, seed=1)], PARAMS)
        finally:
            backend.close()
    message = str(info.value)
    assert message.startswith("http://127.0.0.1:9/v1/chat/completions failed 2 times")
    assert "cannot connect: Connection refused" in message and "Error" not in message


@pytest.mark.parametrize("concurrency", [1, 8])
def test_the_request_budget_stops_the_run(backend_for, concurrency: int) -> None:
    with FaultServer({CHAT: ["500"]}, max_n=1) as server:
        backend = backend_for(server, request_budget=4, concurrency=concurrency)
        with pytest.raises(BudgetExhausted, match="budget exhausted: 4 requests"):
            backend.sample([SampleRequest(MESSAGES, n=6, seed=1)], PARAMS)
        assert backend.usage.requests == 4  # the retry spent budget too
        # A request is charged before it is sent; in parallel, the failure may cancel charged ones unsent.
        assert server.count() == 4 if concurrency == 1 else server.count() <= 4


def test_the_token_budget_stops_the_run(backend_for) -> None:
    per_request = PROMPT_TOKENS + PER_CHOICE
    with FaultServer(max_n=1) as server:
        backend = backend_for(server, token_budget=3 * per_request - 1, concurrency=1)
        with pytest.raises(BudgetExhausted, match="budget exhausted: 39 tokens"):
            backend.sample([SampleRequest(MESSAGES, n=6, seed=1)], PARAMS)
        assert server.count() == 3


def test_embeddings_come_from_the_server_in_order(backend_for) -> None:
    texts = [f"question number {i}?" for i in range(70)]  # two chunks
    with FaultServer({EMBEDDINGS: ["500"]}, dim=6) as server:
        backend = backend_for(server)
        vectors = backend.embed(texts)
        np.testing.assert_allclose(vectors, np.array([embedding(t, 6) for t in texts], dtype=np.float32))
        assert server.count(EMBEDDINGS, "ok") == 2
        assert backend.usage.extra["embed_tokens"] == 70
        server.default = "404"  # once the server's space is in use, never silently switch to another
        with pytest.raises(BackendError, match="HTTP 404"):
            backend.embed(["another question?"])


def test_embeddings_fall_back_to_a_local_model_with_one_warning(backend_for, monkeypatch, capsys) -> None:
    opened: list[BackendConfig] = []

    def fake_llamacpp(config: BackendConfig) -> FakeBackend:
        opened.append(config)
        return FakeBackend(dim=12)

    monkeypatch.setattr("crescent.backends.llamacpp.LlamaCppBackend", fake_llamacpp)
    with FaultServer({EMBEDDINGS: ["404"]}) as server:
        backend = backend_for(server)
        first = backend.embed(["How many apples are left?", "What is 7 times 8?"])
        second = backend.embed(["Why is the sky blue?"])
    assert first.shape == (2, 12) and second.shape == (1, 12)
    assert server.count(EMBEDDINGS) == 1  # decided once, not probed again
    assert [c.model for c in opened] == [str(default_model_path())]
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "SmolLM2" in err and "not the served model 'm'" in err


def test_config_and_key_handling(monkeypatch) -> None:
    with pytest.raises(CrescentError, match="--base-url"):
        OpenAIBackend(BackendConfig(backend="openai"))
    with pytest.raises(ValueError, match="the scheme must be http or https"):  # refused when parsed
        BackendConfig(backend="openai", base_url="127.0.0.1:8000")
    unchecked = BackendConfig(backend="openai").model_copy(update={"base_url": "http://[::1:8000/v1"})
    with pytest.raises(CrescentError, match=r"invalid --base-url .*brackets"):  # built without validation
        OpenAIBackend(unchecked)
    with FaultServer() as server:
        root = server.url.removesuffix("/v1")
        for key, header in [(None, "Bearer EMPTY"), ("sk-test", "Bearer sk-test")]:
            if key is None:
                monkeypatch.delenv("MY_KEY", raising=False)
            else:
                monkeypatch.setenv("MY_KEY", key)
            backend = create_backend(BackendConfig(backend="openai", base_url=root, api_key_env="MY_KEY"))
            try:
                assert isinstance(backend, OpenAIBackend) and backend.base_url == server.url
                backend.sample([SampleRequest(MESSAGES, n=1, seed=0)], PARAMS)
            finally:
                backend.close()
            assert server.hits[-1].authorization == header
            assert server.hits[-1].body["model"] == "default"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with running_server(default_model_path(), log) as url:
        yield url


@pytest.mark.slow
def test_generate_and_eval_through_a_real_llama_cpp_server(
    llama_server: str, tmp_path: Path, gsm8k_dir: Path, capsys
) -> None:
    from crescent.pipeline.generate import generate

    config = GenerateConfig(
        out=tmp_path / "run",
        backend="openai",
        base_url=llama_server,
        model="default",
        questions=2,
        votes=2,
        batch_size=4,
        max_attempts=4,
        bait_max_tokens=48,
        vote_max_tokens=32,
        threads=1,
        quiet=True,
    )
    started = time.perf_counter()
    result = generate(config)
    generate_s = time.perf_counter() - started
    rows = [json.loads(line) for line in result.data_path.read_text().splitlines()]
    stats = result.stats.as_json()
    assert stats["bait"]["attempts"] <= 4 and 1 <= stats["bait"]["accepted"] <= 2
    assert len(rows) <= stats["bait"]["accepted"]
    assert stats["tokens_generated"] > 0
    # Every sample went through the server: 4 bait samples (n=4 topped up to 4 requests) + 2 votes each.
    assert stats["backend_usage_this_session"]["requests"] >= 4 + 2 * stats["bait"]["accepted"]
    # llama.cpp's server cannot embed while it serves chat: dedup must have used local embeddings, saying so.
    assert "no embeddings from" in capsys.readouterr().err
    with capsys.disabled():
        print(f"\ngenerate via llama_cpp.server: {generate_s:.1f} s, {stats['tokens_generated']} tokens")

    from crescent.eval.run import evaluate

    eval_config = EvalConfig(
        out=tmp_path / "eval",
        data=gsm8k_dir / "test.jsonl",
        limit=2,
        backend="openai",
        base_url=llama_server,
        model="default",
        max_tokens=32,
        quiet=True,
    )
    started = time.perf_counter()
    scored = evaluate(eval_config)
    with capsys.disabled():
        print(f"eval via llama_cpp.server: {time.perf_counter() - started:.1f} s for 2 items")
    predictions = [json.loads(line) for line in scored.predictions_path.read_text().splitlines()]
    assert len(predictions) == 2 and scored.results.n == 2
