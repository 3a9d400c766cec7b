"""A scripted, misbehaving OpenAI-compatible server on 127.0.0.1, for testing retries and budgets.

Each route has a queue of actions, consumed one per request, then a default action:

- ``ok``: a valid answer. Chat text is ``seed=S choice=I`` (S the request's seed, I the choice index),
  so a test can tell exactly which sample each completion is, and so spot a lost or duplicated one.
- ``429`` / ``500`` / ``404``: that status with an OpenAI-style error body.
- ``stall``: sleep ``stall_s`` (beyond the client's timeout) before answering.
- ``truncated``: a 200 whose JSON body is cut in half.
- ``context``: a 400 saying the prompt is longer than the model's context (as vLLM words it).

Every request is logged (route, action, body, headers) so tests can count exactly what was sent.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
PROMPT_TOKENS = 10
TOKENS_PER_CHOICE = 3
CONTEXT_DETAIL = "However, you requested 9000 tokens (8800 in the messages, 200 in the completion)."


@dataclass(frozen=True)
class Hit:
    route: str
    action: str
    body: dict[str, Any]
    authorization: str


def chat_text(seed: int, choice: int) -> str:
    return f"seed={seed} choice={choice}"


def embedding(text: str, dim: int) -> list[float]:
    """A deterministic vector per text, so a test can check order and content."""
    digest = hashlib.sha256(text.encode()).digest()
    return [digest[i] / 255.0 for i in range(dim)]


class FaultServer:
    def __init__(
        self,
        script: dict[str, list[str]] | None = None,
        *,
        default: str = "ok",
        max_n: int | None = None,
        stall_s: float = 1.0,
        dim: int = 8,
    ) -> None:
        self.queues = {route: deque(actions) for route, actions in (script or {}).items()}
        self.default = default
        self.max_n = max_n  # None: honour n; 1: ignore it, like llama.cpp's server
        self.stall_s = stall_s
        self.dim = dim
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True  # a stalled handler must not hold up shutdown
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def count(self, route: str | None = None, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for h in self.hits if route in (None, h.route) and action in (None, h.action))

    def next_action(self, route: str, body: dict[str, Any], authorization: str) -> str:
        with self._lock:
            queue = self.queues.get(route)
            action = queue.popleft() if queue else self.default
            self.hits.append(Hit(route, action, body, authorization))
            return action

    def ok_body(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        if route == CHAT:
            n = int(body.get("n") or 1)
            n = n if self.max_n is None else min(n, self.max_n)
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": chat_text(body["seed"], i)},
                    "finish_reason": "stop",
                }
                for i in reversed(range(n))  # out of order on purpose: clients must sort by index
            ]
            usage = {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": TOKENS_PER_CHOICE * n,
                "total_tokens": PROMPT_TOKENS + TOKENS_PER_CHOICE * n,
            }
            return {
                "id": "x",
                "object": "chat.completion",
                "model": body["model"],
                "choices": choices,
                "usage": usage,
            }
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"index": i, "embedding": embedding(t, self.dim)} for i, t in enumerate(texts)][::-1]
        return {
            "object": "list",
            "model": body["model"],
            "data": data,
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out or was cancelled hangs up: expected here, so not worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (a stall): nothing to answer
                pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            route = self.path
            if route not in (CHAT, EMBEDDINGS):
                self._send(404, b'{"error": {"message": "no such route"}}')
                return
            action = server.next_action(route, body, self.headers.get("Authorization", ""))
            if action in ("429", "500", "404"):
                error = {"error": {"message": f"scripted {action}", "type": "scripted"}}
                self._send(int(action), json.dumps(error).encode())
                return
            if action == "context":  # vLLM's words, with text rich would take for markup
                message = f"This model's maximum context length is 2048 tokens [/b]; {CONTEXT_DETAIL}"
                self._send(400, json.dumps({"error": {"message": message}}).encode())
                return
            payload = json.dumps(server.ok_body(route, body)).encode()
            if action == "stall":
                time.sleep(server.stall_s)
            elif action == "truncated":
                payload = payload[: len(payload) // 2]
            elif action != "ok":
                raise ValueError(f"unknown scripted action {action!r}")
            self._send(200, payload)

    return Handler
