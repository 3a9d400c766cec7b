"""A deterministic backend for fast unit tests: no model, canned but seed-driven text.

Bait samples are word problems built from a seed (so some collide and must be
deduplicated); vote samples solve ``a + b`` correctly most of the time, so majority
voting has something real to decide.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from crescent.backends.base import (
    BackendBase,
    Completion,
    PromptTooLong,
    SampleRequest,
    SamplingParams,
    Usage,
)
from crescent.errors import CrescentError

if TYPE_CHECKING:
    from crescent.config import BackendConfig

_NAMES = ["Ava", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana"]
_THINGS = ["apples", "marbles", "stickers", "books", "coins", "pencils"]
_NUMBERS = re.compile(r"\d+")


class FakeBackend(BackendBase):
    name = "fake"

    def __init__(
        self,
        *,
        dim: int = 32,
        distinct: int = 40,
        accuracy: float = 0.8,
        garbage: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.delay = delay  # seconds per completion, so a test can kill a run mid-way
        self.dim = dim
        self.distinct = distinct  # how many different problems bait can produce
        self.accuracy = accuracy
        self.garbage = garbage
        self.usage = Usage()
        self.n_ctx: int | None = None

    @classmethod
    def from_config(cls, config: BackendConfig) -> FakeBackend:
        backend = cls.from_spec(config.model)
        backend.n_ctx = config.n_ctx  # in words: enough to test what a real backend does with a long prompt
        return backend

    @classmethod
    def from_spec(cls, spec: str | None) -> FakeBackend:
        """Options from the ``--model`` string (``"delay=0.05,garbage=1"``), so tests can drive the CLI."""
        kwargs: dict[str, float] = {}
        for part in filter(None, (spec or "").split(",")):
            key, _, value = part.partition("=")
            if key not in {"dim", "distinct", "accuracy", "garbage", "delay"}:
                raise CrescentError(
                    f"--model '{spec}': unknown fake backend option '{key}' (use dim, distinct, accuracy, "
                    "garbage, delay)"
                )
            kwargs[key] = float(value)
        ints = {k: int(v) for k, v in kwargs.items() if k in {"dim", "distinct"}}
        return cls(**{**kwargs, **ints, "garbage": bool(kwargs.get("garbage", 0))})

    def _bait(self, rng: random.Random) -> str:
        k = rng.randrange(self.distinct)
        name, thing = _NAMES[k % len(_NAMES)], _THINGS[k % len(_THINGS)]
        a, b = 3 + k, 5 + 2 * k
        lead = rng.choice(["", "Problem: ", "Sure! Here is a problem:\n"])
        return f"{lead}{name} has {a} {thing} and buys {b} more. How many {thing} does {name} have now?"

    def _solve(self, question: str, rng: random.Random) -> str:
        numbers = [int(x) for x in _NUMBERS.findall(question)]
        total = sum(numbers[:2]) if numbers else 0
        if rng.random() > self.accuracy:
            total += rng.choice([-1, 1, 10])
        return f"Add the two amounts: {' + '.join(map(str, numbers[:2]))} = {total}.\nThe answer is {total}."

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for request in requests:
            prompt = request.messages[-1]["content"]
            words = sum(len(m["content"].split()) for m in request.messages)
            if self.n_ctx is not None and words >= self.n_ctx:
                raise PromptTooLong(
                    f"a prompt of {words:,} words does not fit the context window ({self.n_ctx}); "
                    "raise --n-ctx or shorten the prompt"
                )
            completions = []
            for j in range(request.n):
                rng = random.Random(request.seed * 1_000_003 + request.first_index + j)
                if self.delay:
                    time.sleep(self.delay)
                if self.garbage:
                    text = rng.choice(["", "???", "lorem ipsum " * 3])
                elif "word problem" in prompt.lower():
                    text = self._bait(rng)
                elif "exactly one numeric answer" in prompt:  # the self-check: doubts one in three
                    text = "No." if rng.random() < 1 / 3 else "Yes."
                else:
                    text = self._solve(prompt, rng)
                tokens = min(len(text.split()), params.max_tokens)
                completions.append(Completion(text=text, tokens=tokens))
                self.usage.completion_tokens += tokens
            self.usage.prompt_tokens += len(prompt.split())
            self.usage.prefill_tokens += len(prompt.split())
            self.usage.requests += 1
            out.append(completions)
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Bag-of-words hashing: identical wording gives identical vectors, different wording does not."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[i, random.Random(word).randrange(self.dim)] += 1.0
            vectors[i] += 0.5  # a shared component, like the anisotropy of real pooled states
        return vectors

    def close(self) -> None:
        pass
