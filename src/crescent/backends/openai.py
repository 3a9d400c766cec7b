"""Any OpenAI-compatible server (vLLM, llama.cpp's server, a hosted API) as a backend.

Requests go out concurrently (a semaphore bounds how many are in flight) from a
private event loop, so ``sample()`` stays a plain blocking call for the pipeline.
The openai client's own retries are off: ours are bounded, back off exponentially
with jitter, and also cover what the client would not retry (a 200 with a broken
body). Every HTTP request is charged to a per-run budget *before* it is sent, so
a misbehaving server cannot run up an unbounded bill.

Time is bounded too: each attempt gets ``request_timeout_s``, and one request with all its retries
and back-off gets ``request_deadline_s``, so a server that accepts connections and never answers
fails the run in bounded time. The event loop runs in a daemon thread and an interrupted call cancels
its requests, so Ctrl-C is never held up by a request in flight.

Seeds: a request for ``n`` samples is first sent once with ``n`` and seed
``derive_seed(seed, 0)``; a server that returns fewer choices (llama.cpp's ignores
``n``) is topped up with single-sample requests seeded ``derive_seed(seed, j)``,
so with such a server every sample is exactly what ``n=1`` requests would give.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import numpy as np
import openai
from rich.markup import escape

from crescent.backends.base import (
    Backend,
    BackendBase,
    BackendError,
    Completion,
    PromptTooLong,
    SampleRequest,
    SamplingParams,
    Usage,
    derive_seed,
)
from crescent.config import BackendConfig, check_base_url
from crescent.errors import CrescentError
from crescent.models import default_model_path
from crescent.progress import console

T = TypeVar("T")
EMBED_CHUNK = 64  # texts per /embeddings request
MAX_EMBED_DIM = 65_536
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})  # and every 5xx
CLOSE_S = 1.0  # closing waits this long for cancelled requests and the HTTP client, then lets go


class BudgetExhausted(BackendError):
    """The run's request or token budget is spent; nothing else went wrong (resume later to go on)."""


class _RequestFailed(BackendError):
    """A request that failed for good; ``reason`` is the short why, for the embeddings fallback notice."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Malformed(ValueError):
    """A 2xx answer whose body is not what the API promises: retried like a server error."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one HTTP request (429, 5xx, timeouts, broken bodies)."""

    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (uniform up to the exponential step) so clients that failed together spread out."""
        if retry_after is not None:  # the server said when: believe it, within our cap
            return min(self.cap_s, max(retry_after, 0.0))
        return random.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


class OpenAIBackend(BackendBase):
    """Chat completions and embeddings from ``config.base_url``, serving ``config.model`` (default "default").

    Budgets (``None`` = unlimited) count every HTTP request sent, retries included, and every token the
    server reports; in-flight requests may overshoot the token budget by at most ``concurrency - 1``.
    Limits come from the config (``--concurrency``, ``--request-timeout-s``, ``--request-deadline-s``,
    ``--retries``, ``--request-budget``, ``--token-budget``); keyword arguments override them (tests).
    """

    name = "openai"

    def __init__(
        self,
        config: BackendConfig,
        *,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float | None = None,
        deadline_s: float | None = None,
        request_budget: int | None = None,
        token_budget: int | None = None,
        embeddings: Literal["auto", "server", "local"] = "auto",
    ) -> None:
        concurrency = config.concurrency if concurrency is None else concurrency
        timeout_s = config.request_timeout_s if timeout_s is None else timeout_s
        retry = retry or RetryPolicy(max_attempts=config.retries + 1)
        if concurrency < 1 or (retry is not None and retry.max_attempts < 1):
            raise CrescentError("openai backend: concurrency and max_attempts must be at least 1")
        if not config.base_url:
            raise CrescentError(
                "--backend openai needs --base-url URL (for example http://127.0.0.1:8000/v1)"
            )
        try:
            parts = urlsplit(check_base_url(config.base_url))
        except ValueError as exc:  # a config built without validation (model_copy, a test)
            raise CrescentError(f"invalid --base-url {exc}") from None
        self.base_url = config.base_url.rstrip("/") + ("/v1" if parts.path in ("", "/") else "")
        self.model = config.model or "default"
        self.config = config
        self.concurrency = concurrency
        self.retry = retry
        self.timeout_s = timeout_s
        self.deadline_s = config.request_deadline_s if deadline_s is None else deadline_s
        self.request_budget = config.request_budget if request_budget is None else request_budget
        self.token_budget = config.token_budget if token_budget is None else token_budget
        self.usage = Usage(extra={"retries": 0.0, "embed_tokens": 0.0})
        self._embeddings = embeddings  # "auto" becomes "server" or "local" at the first embed()
        self._local: Backend | None = None
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(config.api_key_env) or "EMPTY",
            max_retries=0,
            timeout=timeout_s,
        )
        self._loop = asyncio.new_event_loop()
        # A daemon thread drives the loop, so sample() also works under a caller's running loop, and a
        # request that never ends cannot keep the process alive after an interrupt.
        self._thread = threading.Thread(target=self._loop.run_forever, name="crescent-openai", daemon=True)
        self._thread.start()
        self._semaphore: asyncio.Semaphore | None = None

    def _run(self, coro_fn: Callable[[], Awaitable[T]]) -> T:
        async def main() -> T:
            if self._semaphore is None:  # created here: it must belong to the private loop
                self._semaphore = asyncio.Semaphore(self.concurrency)
            return await coro_fn()

        future = asyncio.run_coroutine_threadsafe(main(), self._loop)
        try:
            return future.result()
        except BaseExceptionGroup as group:  # task groups cancel siblings, then report the failure nested
            raise _first_leaf(group) from None
        except BaseException:
            future.cancel()  # interrupted while waiting (Ctrl-C): cancel the requests in flight too
            raise

    # ---- sampling ---------------------------------------------------------------------------------

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[list[Completion]]:
        async def all_requests() -> list[list[Completion]]:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._sample_one(r, params)) for r in requests]
            return [t.result() for t in tasks]

        return self._run(all_requests)

    async def _sample_one(self, request: SampleRequest, params: SamplingParams) -> list[Completion]:
        completions = await self._chat(
            request, params, n=request.n, seed=derive_seed(request.seed, request.first_index)
        )
        if len(completions) >= request.n:
            return completions[: request.n]
        async with asyncio.TaskGroup() as group:  # top up a server that ignored (part of) n
            extra = [
                group.create_task(
                    self._chat(request, params, n=1, seed=derive_seed(request.seed, request.first_index + j))
                )
                for j in range(len(completions), request.n)
            ]
        return completions + [t.result()[0] for t in extra]

    async def _chat(
        self, request: SampleRequest, params: SamplingParams, *, n: int, seed: int
    ) -> list[Completion]:
        kwargs: dict[str, Any] = dict(
            model=self.model,
            messages=list(request.messages),
            n=n,
            seed=seed,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
        )
        if params.stop:
            kwargs["stop"] = list(params.stop)
        cap = 32 * params.max_tokens + 1024  # untrusted text: never keep more than max_tokens could explain
        body = await self._post(
            "/chat/completions",
            lambda: self._client.chat.completions.with_raw_response.create(**kwargs),
            lambda b: _parse_chat(b, cap),
        )
        choices, usage = body
        if usage is None:  # a server that omits usage still spends the token budget: estimate ~4 chars/token
            usage = (0, sum(len(text) // 4 + 1 for text, _ in choices), 0)
        prompt, completion, cached = usage
        self.usage.prompt_tokens += prompt
        self.usage.prefill_tokens += max(0, prompt - cached)
        self.usage.completion_tokens += completion
        shares = _split(completion, len(choices))  # usage is per request; spread it over its choices
        return [Completion(text, k, finish) for (text, finish), k in zip(choices, shares, strict=True)]

    # ---- embeddings -------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._embeddings == "local":
            return self._local_backend("embeddings='local' asked for").embed(texts)
        try:
            vectors = self._run(lambda: self._embed_server(texts))
        except BudgetExhausted:
            raise
        except BackendError as exc:
            if self._embeddings == "server":  # it worked before: switching spaces mid-run would corrupt dedup
                raise
            self._embeddings = "local"
            return self._local_backend(getattr(exc, "reason", str(exc))).embed(texts)
        self._embeddings = "server"
        return vectors

    async def _embed_server(self, texts: list[str]) -> np.ndarray:
        chunks = [texts[i : i + EMBED_CHUNK] for i in range(0, len(texts), EMBED_CHUNK)]
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._embed_chunk(chunk)) for chunk in chunks]
        parts = [t.result() for t in tasks]
        if len({part.shape[1] for part in parts}) > 1:
            raise BackendError(f"{self.base_url}/embeddings gave vectors of several sizes; check the server")
        return np.concatenate(parts)

    async def _embed_chunk(self, chunk: list[str]) -> np.ndarray:
        vectors, usage = await self._post(
            "/embeddings",
            lambda: self._client.embeddings.with_raw_response.create(
                model=self.model, input=chunk, encoding_format="float"
            ),
            lambda b: _parse_embeddings(b, len(chunk)),
        )
        prompt = usage[0] if usage is not None else sum(len(t) // 4 + 1 for t in chunk)
        self.usage.extra["embed_tokens"] += prompt
        return vectors

    def _local_backend(self, reason: str) -> Backend:
        """The served model's own GGUF when ``--model`` names one here, else the embedded default."""
        if self._local is None:
            from crescent.backends.llamacpp import LlamaCppBackend

            given = Path(self.config.model or "")
            if self.config.model and given.is_file():
                path, why = given, "the served model's own weights"
            else:
                path, why = default_model_path(), f"the embedded default, not the served model '{self.model}'"
            reason = escape(reason[:300])  # it may quote the server: untrusted, and rich would read markup
            console.print(
                f"[yellow]warning:[/yellow] no embeddings from {escape(self.base_url)} ({reason});"
                f" dedup uses local embeddings of {escape(str(path))} ({escape(why)})",
                highlight=False,
                soft_wrap=True,
            )
            # batch_size 1: this copy only embeds, so its decoder's KV cache should stay small.
            update = {"backend": "llamacpp", "model": str(path), "batch_size": 1}
            self._local = LlamaCppBackend(self.config.model_copy(update=update))
        return self._local

    # ---- HTTP with retries and budgets -------------------------------------------------------------

    async def _post(self, route: str, send: Callable[[], Awaitable[Any]], parse: Callable[[Any], T]) -> T:
        """One request, retried; all its attempts and back-off end by ``deadline_s`` after the first send."""
        assert self._semaphore is not None
        last = ""
        started: float | None = None  # the clock starts at the first send, not while queued for a slot
        sent = 0
        for attempt in range(1, self.retry.max_attempts + 1):
            retry_after = None
            try:
                async with self._semaphore:
                    started = time.monotonic() if started is None else started
                    left = self.deadline_s - (time.monotonic() - started)
                    if left <= 0:
                        break
                    self._charge_request()
                    sent += 1
                    async with asyncio.timeout(min(self.timeout_s, left)):
                        raw = await send()
                try:
                    return parse(json.loads(raw.text))
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise _Malformed(str(exc)[:200]) from exc
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status == 400 and "context" in _server_said(exc).lower():  # vLLM's, llama.cpp's words
                    raise PromptTooLong(self._refusal(route, status, exc)) from exc
                if status not in RETRYABLE_STATUS and status < 500:
                    raise _RequestFailed(self._refusal(route, status, exc), f"HTTP {status}") from exc
                last, retry_after = f"HTTP {status}: {_server_said(exc)}", _retry_after(exc.response.headers)
            except (openai.APITimeoutError, TimeoutError):
                last = f"no answer within {self.timeout_s:g} s"
            except openai.APIConnectionError as exc:
                last = f"cannot connect: {_connection_problem(exc)}"
            except _Malformed as exc:
                last = f"malformed body: {exc}"
            left = self.deadline_s - (time.monotonic() - (started or time.monotonic()))
            if attempt < self.retry.max_attempts and left > 0:
                self.usage.extra["retries"] += 1
                await asyncio.sleep(min(self.retry.delay(attempt, retry_after), left))
        elapsed = time.monotonic() - (started or time.monotonic())
        raise _RequestFailed(
            f"{self.base_url}{route} failed {sent} time{'' if sent == 1 else 's'} in {elapsed:.0f} s "
            f"(last: {last}; limits: "
            f"--request-timeout-s {self.timeout_s:g}, --request-deadline-s {self.deadline_s:g}, "
            f"--retries {self.retry.max_attempts - 1}); check that the server is up and healthy, "
            "then rerun (the run resumes)",
            f"{last}, {sent} tries",
        )

    def _refusal(self, route: str, status: int, exc: openai.APIStatusError) -> str:
        detail = _server_said(exc)
        hint = {
            401: f"set the API key in ${self.config.api_key_env}",
            403: f"the key in ${self.config.api_key_env} may not use model '{self.model}'",
            404: f"check --base-url, and --model against {self.base_url}/models",
        }.get(status, "check --model, --n-ctx and the sampling options")
        return f"{self.base_url}{route} refused the request (HTTP {status}: {detail}); {hint}"

    def _charge_request(self) -> None:
        if self.request_budget is not None and self.usage.requests >= self.request_budget:
            raise BudgetExhausted(
                f"budget exhausted: {self.usage.requests} requests sent "
                f"(request_budget={self.request_budget}); raise the budget and rerun to resume"
            )
        if self.token_budget is not None and self._tokens_used() >= self.token_budget:
            raise BudgetExhausted(
                f"budget exhausted: {self._tokens_used()} tokens used (token_budget={self.token_budget}); "
                "raise the budget and rerun to resume"
            )
        self.usage.requests += 1

    def _tokens_used(self) -> int:
        return self.usage.prompt_tokens + self.usage.completion_tokens + int(self.usage.extra["embed_tokens"])

    async def _shutdown(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:  # requests of an interrupted call
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_S)
        await self._client.close()

    def close(self) -> None:
        """Cancel what is in flight and let go within about ``2 * CLOSE_S``, whatever the server does."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):  # a hung close must not hang the run; the thread is a daemon
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=2 * CLOSE_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CLOSE_S)
        if not self._thread.is_alive():
            self._loop.close()
        if self._local is not None:
            self._local.close()


def _parse_chat(body: Any, cap: int) -> tuple[list[tuple[str, str]], tuple[int, int, int] | None]:
    choices = body["choices"]
    if not isinstance(choices, list) or not choices:
        raise ValueError("no choices")
    out = []
    for choice in sorted(choices, key=lambda c: _count(c.get("index"))):
        content = choice["message"].get("content") or ""
        if not isinstance(content, str):
            raise ValueError("message.content is not text")
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        out.append((content[:cap], finish))
    return out, _parse_usage(body.get("usage"))


def _parse_embeddings(body: Any, count: int) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    data = sorted(body["data"], key=lambda d: _count(d.get("index")))
    if [_count(d.get("index")) for d in data] != list(range(count)):
        raise ValueError(f"expected {count} embeddings indexed 0..{count - 1}")
    vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
    if vectors.ndim != 2 or not 0 < vectors.shape[1] <= MAX_EMBED_DIM or not np.isfinite(vectors).all():
        raise ValueError("embeddings are not finite vectors of one size")
    return vectors, _parse_usage(body.get("usage"))


def _parse_usage(usage: Any) -> tuple[int, int, int] | None:
    """(prompt, completion, cached prompt) tokens; ``None`` when the server sent no usable usage."""
    if not isinstance(usage, dict) or "prompt_tokens" not in usage:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return _count(usage["prompt_tokens"]), _count(usage.get("completion_tokens")), cached


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return 0
    return int(value)


def _split(total: int, parts: int) -> list[int]:
    base, rest = divmod(total, parts)
    return [base + (i < rest) for i in range(parts)]


def _server_said(exc: openai.APIStatusError) -> str:
    """The server's own words, verbatim (the CLI prints them literally): an OpenAI-style body's
    ``error.message``, else the body as sent; capped, since a server's text is untrusted."""
    try:
        text = exc.response.text
    except Exception:  # a streamed or unread body
        text = ""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        body = json.loads(text)
        error = body.get("error") if isinstance(body, dict) else None
        message = (
            error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
        )
        if isinstance(message, str) and message.strip():
            text = message
    text = " ".join(text.split())
    return (text[:300] + "...") if len(text) > 300 else text or "no text"


def _connection_problem(exc: BaseException) -> str:
    """What the network layer said (``[Errno 111] Connection refused``), not the class that carried it."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
            return os.strerror(cause.errno)  # "Connection refused", not asyncio's "Connect call failed"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(exc.__cause__ or exc).split())
    return text[:200] or "the connection failed"


def _retry_after(headers: Any) -> float | None:
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The first real error inside (nested) task groups: a BackendError, not an ExceptionGroup."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
