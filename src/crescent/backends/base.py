"""The one small interface every model backend implements.

The pipeline, eval and training code only ever see these types, so a backend is
swappable (llama.cpp, transformers, an OpenAI-compatible server, a fake for tests)
without touching any step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from crescent.errors import ServiceFailure

if TYPE_CHECKING:
    from crescent.config import BackendConfig

Message = dict[str, str]
"""A chat message: ``{"role": "user" | "assistant" | "system", "content": str}``."""


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleRequest:
    """Sample ``n`` completions of one chat prompt.

    ``seed`` belongs to the request, not the backend, so that a resumed run draws
    exactly the samples an uninterrupted run would have drawn.
    """

    messages: tuple[Message, ...]
    n: int = 1
    seed: int = 0
    first_index: int = 0
    """Sample ``j`` of this request is sample ``first_index + j`` of the prompt: its RNG is seeded with
    ``derive_seed(seed, first_index + j)``. Adaptive voting asks for votes in waves; with this, the
    votes of every wave are exactly the ones a single request for all of them would have drawn."""


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int
    finish_reason: str = "stop"  # "stop" or "length"


@dataclass
class Usage:
    """Running token counters, shared by a backend's calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prefill_tokens: int = 0  # prompt tokens actually evaluated (a shared prefix counts once)
    requests: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "prefill_tokens": self.prefill_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
            **self.extra,
        }


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs from a model.

    ``overlapping_calls`` says ``sample`` may be called from several threads at once (the local executor
    then keeps the next call in flight); ``cancel_all`` ends the calls in flight when a driver stops
    early. ``BackendBase`` gives both their plain defaults.
    """

    name: str
    usage: Usage
    overlapping_calls: bool

    @classmethod
    def from_config(cls, config: BackendConfig) -> Backend:
        """Build the backend a config names (plugins: the config's ``model`` string is theirs to read)."""
        ...

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[list[Completion]]:
        """Return, for each request, its ``n`` completions in order."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Pooled hidden states of the model itself, float32 of shape ``(len(texts), dim)``."""
        ...

    def cancel_all(self) -> None: ...

    def close(self) -> None: ...


class BackendBase:
    """Defaults for the optional parts of ``Backend``: calls run one at a time, nothing to cancel."""

    overlapping_calls = False

    @classmethod
    def from_config(cls, config: BackendConfig) -> Any:
        return cls(config)  # type: ignore[call-arg]

    def cancel_all(self) -> None:
        """Nothing to cancel: a call that cannot overlap ends before the driver can stop."""


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (``hash()`` is salted per process, so unusable here)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF


class BackendError(ServiceFailure, RuntimeError):
    """A model could not be loaded or did not answer; the message says what to do."""


class PromptTooLong(BackendError):
    """A prompt that does not fit the model's context window. A fault of that one item, not of the
    backend: drivers skip the item and count it (``pipeline.tasks.run_sample_batch``)."""
