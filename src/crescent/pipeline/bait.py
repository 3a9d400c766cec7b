"""Step 1, bait: a short domain prompt makes the model write raw questions, which we clean.

Cleaning is deliberately simple text surgery (strip lead-ins, cut after the
question sentence) with a recorded reason for every rejection, so a user can see
why a model's samples were thrown away.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from crescent.backends.base import SampleRequest, derive_seed

MIN_CHARS = 30
MAX_CHARS = 1000
MAX_RAW_CHARS = 20_000  # model output is untrusted: never process more than this

_LEAD_IN = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly|of course|here(?:'s| is)[^:\n]{0,60})[!.,:]?\s*)*"
    r"(?:#\d{1,4}\s*[:.)]\s*)?"
    r"(?:\**\s*(?:(?:a|an|the|my|new)\s+)*(?:new\s+)?(?:high[- ]school(?:[- ]level)?\s+)?"
    r"(?:math(?:ematics)?\s+)?(?:word\s+)?(?:problem|question)(?:\s*#?\d{1,3})?(?:\s+is)?"
    r"\s*\**\s*[:.\-]\s*\**\s*)?",
    re.IGNORECASE,
)
_SOLUTION_MARKER = re.compile(r"\n\s*\**\s*(?:solution|answer|step\s*1|hint)\b", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Candidate:
    """One bait sample after cleaning. ``question`` is None when rejected (see ``reason``)."""

    attempt: int
    raw: str
    question: str | None
    reason: str | None
    tokens: int


def bait_requests(prompt: str, seed: int, batch: int, size: int) -> list[SampleRequest]:
    """One request with ``n=size`` samples: the shared bait prompt is evaluated once per batch."""
    messages = ({"role": "user", "content": prompt},)
    return [SampleRequest(messages=messages, n=size, seed=derive_seed("bait", seed, batch))]


def clean_question(raw: str) -> tuple[str | None, str | None]:
    """Return ``(question, None)`` or ``(None, reason)``."""
    text = raw[:MAX_RAW_CHARS].strip()
    if not text:
        return None, "empty"
    text = _LEAD_IN.sub("", text, count=1)
    marker = _SOLUTION_MARKER.search(text)
    if marker:
        text = text[: marker.start()]
    end = text.find("?")
    if end < 0:
        return None, "no_question"
    text = _SPACES.sub(" ", text[: end + 1]).strip().strip("*\"' ").strip()
    if not text.endswith("?"):
        text += "?"
    if len(text) < MIN_CHARS:
        return None, "too_short"
    if len(text) > MAX_CHARS:
        return None, "too_long"
    return text, None


def normalized_key(question: str) -> str:
    """Cheap exact-duplicate key: case, punctuation and spacing do not make a question new."""
    return " ".join(re.findall(r"[a-z0-9]+", question.lower()))


def question_id(question: str) -> str:
    """Content-derived, so ids stay unique when runs and rounds are merged."""
    return "q-" + hashlib.blake2b(question.encode(), digest_size=6).hexdigest()
