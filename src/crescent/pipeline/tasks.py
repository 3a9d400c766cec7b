"""Units of sampling work that an executor ships to wherever a backend lives.

They are top-level functions over plain data so that Ray can pickle them; they
return plain data, and never decide anything (decisions stay with the driver).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crescent.backends.base import Backend, Completion, PromptTooLong, SampleRequest, SamplingParams
from crescent.pipeline.bait import Candidate, bait_requests, clean_question

SAMPLES_PER_SLOT = 4
"""Work handed to the backend per call, in multiples of its ``batch_size`` slots.

With exactly ``batch_size`` samples per call, sequences that finish early leave slots
with nothing to refill them; four times as many keep the slots full (benchmarks/README.md,
"Design measurements"). The price is a coarser unit of resumable work.
"""


def samples_per_call(batch_size: int) -> int:
    return SAMPLES_PER_SLOT * batch_size


@dataclass(frozen=True)
class BaitBatch:
    batch: int
    first_attempt: int
    prompt: str
    seed: int
    size: int
    params: SamplingParams


@dataclass
class BaitResult:
    candidates: list[Candidate]
    vectors: np.ndarray  # raw pooled embeddings of the cleaned candidates, in order


def run_bait_batch(backend: Backend, task: BaitBatch) -> BaitResult:
    (completions,) = backend.sample(bait_requests(task.prompt, task.seed, task.batch, task.size), task.params)
    candidates = []
    for offset, completion in enumerate(completions):
        question, reason = clean_question(completion.text, task.prompt)
        candidates.append(
            Candidate(task.first_attempt + offset, completion.text, question, reason, completion.tokens)
        )
    cleaned = [c.question for c in candidates if c.question is not None]
    vectors = backend.embed(cleaned) if cleaned else np.zeros((0, 0), dtype=np.float32)
    return BaitResult(candidates, vectors)


@dataclass(frozen=True)
class SampleBatch:
    keys: tuple[str, ...]
    requests: tuple[SampleRequest, ...]
    params: SamplingParams


@dataclass(frozen=True)
class Unfit:
    """The result of a request whose prompt the model cannot take (``PromptTooLong``): its item is
    skipped and counted with this reason, instead of one oversized item killing the whole call."""

    reason: str


def run_sample_batch(backend: Backend, task: SampleBatch) -> list[list[Completion] | Unfit]:
    try:
        return list(backend.sample(task.requests, task.params))
    except PromptTooLong as exc:
        if len(task.requests) == 1:
            return [Unfit(str(exc))]
    # Which request did not fit? Backends refuse a whole call, so ask again one request at a time (rare:
    # only calls holding an oversized prompt pay for it).
    return [
        run_sample_batch(backend, SampleBatch((key,), (request,), task.params))[0]
        for key, request in zip(task.keys, task.requests, strict=True)
    ]


def run_embed(backend: Backend, texts: Sequence[str]) -> np.ndarray:
    return backend.embed(list(texts))
