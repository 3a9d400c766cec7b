"""Step 1, bait: a short domain prompt makes the model write raw questions, which we clean.

Cleaning is deliberately simple text surgery with a recorded reason for every rejection, so a user can
see why a model's samples were thrown away. It has to work on any model, not only the one the defaults
were tuned on: a small model echoes the bait prompt ("Create a new math word problem for high-school
students. For example, ...") or chats ("I'd be happy to create a math word problem ... Here's a word
problem: ..."). So the text before the question is read sentence by sentence, and a sentence is dropped
when it *echoes the bait prompt* (most of its word pairs are the prompt's) or is *chatter* (addressed to
the user, or about making a problem rather than part of one). A question sentence that is itself an
echo or chatter ("Can you write a new math word problem ...?") is rejected as ``echo`` or ``chat``.

Written by hand: no library tells a problem's own sentences from a chat model's talk about it; the
patterns below are the talk seen from SmolLM2 and Qwen2.5 (tests/pipeline/test_bait.py has the real
samples), kept narrow so that a problem told in the first person ("I have 3 apples ...") survives.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass

from crescent.backends.base import SampleRequest, derive_seed

MIN_CHARS = 30
MAX_CHARS = 1000
MAX_RAW_CHARS = 20_000  # model output is untrusted: never process more than this
MAX_QUESTION_MARKS = 4  # a question sentence that is chatter lets the next one try; this many at most
ECHO_OVERLAP = 0.5  # a sentence whose word pairs are mostly the bait prompt's echoes it
MAX_LEAD_CHARS = 300  # lead-ins and chatter are short: a longer sentence is read as part of the problem
MAX_SOURCE_CHARS = (
    3 * MAX_CHARS
)  # text before a question mark that cleaning reads at most (bounded regex work)

_LEAD_IN = re.compile(
    r"^\s*(?:(?:(?:sure|okay|ok|certainly|of course)[!.,:]|here(?:'s| is)[^:\n]{0,60}[!.,:]?)\s*)*"
    r"(?:#\d{1,4}\s*[:.)]\s*)?"
    r"(?:\**\s*(?:(?:a|an|the|my|new)\s+)*(?:new\s+)?(?:high[- ]school(?:[- ]level)?\s+)?"
    r"(?:math(?:ematics)?\s+)?(?:word\s+)?(?:problem|question)(?:\s*#?\d{1,3})?(?:\s+is)?"
    r"\s*\**\s*[:.\-]\s*\**\s*)?",
    re.IGNORECASE,
)
_SOLUTION_MARKER = re.compile(r"\n\s*\**\s*(?:solution|answer|step\s*1|hint)\b", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!])\s+(?=\S)")

# What a problem is called when the model talks about one, rather than poses it.
_TASK_NOUN = r"\b(?:problems?|questions?|exercises?|puzzles?|examples?|riddles?|challenges?)\b"
# A clause that announces what follows its colon: "Here's a word problem:", "The problem is:", "Problem 2:".
_ANNOUNCEMENT = re.compile(
    rf"(?:^|\b)(?:here(?:'s| is| are)\b.*|.*{_TASK_NOUN}.*|.*\bfor (?:example|instance)\b.*|"
    r"(?:solve|try|answer|consider) (?:this|the following)\b.*)$",
    re.IGNORECASE,
)
_TITLE = re.compile(r"^(?:[A-Z][\w'-]*\s*){1,3}$")  # "Tell Me Why: ...", "Definition: ..." opening the text
_COLON = re.compile(r":(?=\s|$)")  # not the colon of a time or a ratio (3:15, 1:1)
_ANNOUNCEMENT_WORDS = 24  # a longer clause before a colon is the problem itself ("... the following prices:")
_LEADING_PHRASE = re.compile(
    r"^(?:(?:for example|for instance|e\.g\.|example|here(?:'s| is) (?:one|an example|another one))\s*[,:.]?"
    r"|[-*\u2022]|\d{1,2}[.)])\s+",
    re.IGNORECASE,
)
# Verbs of making a problem (any form; the imperative alone starts an instruction), and of working on one
# together; with a _TASK_NOUN they mark talk about the task.
_AUTHOR = r"(?:create|write|generate|make|come up with|provide|craft|design|invent|prepare|compose)"
_AUTHORING = r"(?:creat|writ|wrote|generat|mak|made|come up with|provid|craft|design|invent|prepar|compos)\w*"
_WORK = r"(?:solv|tackl|try|tri|work|look|practic|explor|think|go through)\w*"
_CHATTER = (
    # a greeting or an acknowledgement on its own
    re.compile(
        r"^(?:hi|hello|hey|greetings|sure|okay|ok|certainly|of course|absolutely|great|alright|gladly|"
        r"no problem|you got it|happy to help)\b[^.!?]{0,30}[.!?,]?$",
        re.IGNORECASE,
    ),
    # the model speaking of itself and the task ("I'd be happy to create a math word problem"), but not a
    # problem told in the first person ("I solve 4 problems a day")
    re.compile(
        rf"\b(?:i|i'm|i'd|i'll|i've|me)\b.*\b{_AUTHORING}\b.*{_TASK_NOUN}|^(?:i'm |i am )?sorry\b|"
        r"\bas an ai\b|\blanguage model\b|\b(?:happy|glad) to help\b",
        re.IGNORECASE,
    ),
    # the model and the user together on the task ("Let's tackle this fun math problem together")
    re.compile(
        r"\b(?:let's|let us|we're going to|we are going to|we will|we'll|we can|we could)\b"
        rf".*\b(?:{_AUTHORING}|{_WORK})\b.*{_TASK_NOUN}",
        re.IGNORECASE,
    ),
    # the user asked to do the task or to check it ("Can you write a new math word problem ...?")
    re.compile(
        r"\b(?:you could|you can|you will|you'll|can you|could you|would you)\b"
        rf".*\b(?:{_AUTHORING}|help|verify|check)\b.*{_TASK_NOUN}|"
        r"\b(?:is|was) (?:this|that|it) (?:correct|right)\b",
        re.IGNORECASE,
    ),
    # an instruction to write a problem, the bait prompt's own kind of sentence
    re.compile(
        rf"^(?:please\s+)?(?:{_AUTHOR}|develop|formulate|construct|give)\b.*{_TASK_NOUN}", re.IGNORECASE
    ),
)


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


def clean_question(raw: str, prompt: str) -> tuple[str | None, str | None]:
    """Return ``(question, None)`` or ``(None, reason)``; ``prompt`` is the bait prompt that made ``raw``."""
    text = raw[:MAX_RAW_CHARS].strip()
    if not text:
        return None, "empty"
    text = _LEAD_IN.sub("", text, count=1)
    marker = _SOLUTION_MARKER.search(text)
    if marker:
        text = text[: marker.start()]
    prompt_pairs = _word_pairs(prompt)
    first_reason = None
    start = 0
    for _ in range(MAX_QUESTION_MARKS):  # a rejected question sentence lets the text after it try
        end = text.find("?", start)
        if end < 0:
            break
        if end + 1 - start > MAX_SOURCE_CHARS:  # no lead-in is that long: the problem would be too long
            question, reason = None, "too_long"
        else:
            question, reason = _problem(text[start : end + 1], prompt_pairs)
        if question is not None:
            question, reason = _sized(question)
            if question is not None:
                return question, None
        first_reason = first_reason or reason
        start = end + 1
    return None, first_reason or "no_question"


def _problem(text: str, prompt_pairs: set[tuple[str, str]]) -> tuple[str | None, str | None]:
    """The problem that ends with ``text``'s final question mark, without lead-ins; else the reason."""
    text = _SPACES.sub(" ", text).strip()
    text = _after_last_announcement(text)
    *context, question = _SENTENCE_END.split(text)
    question = question.strip(" \"'")
    if _echoes(question, prompt_pairs):
        return None, "echo"
    if _is_chatter(question):
        return None, "chat"
    kept = [s for s in context if not (_echoes(s, prompt_pairs) or _is_chatter(s))]
    problem = " ".join([*kept, question]).strip("*\"' ")
    return _LEADING_PHRASE.sub("", problem).strip("*\"' "), None


def _after_last_announcement(text: str) -> str:
    """Everything after the last colon that announces the problem ("Here's a word problem: ...")."""
    cut = 0
    for colon in _COLON.finditer(text):
        before = _SENTENCE_END.split(text[cut : colon.start()])
        clause = before[-1].strip(" *\"'#")
        if len(clause) > MAX_LEAD_CHARS:
            continue
        title = cut == 0 and len(before) == 1 and _TITLE.match(clause)
        if title or (len(clause.split()) <= _ANNOUNCEMENT_WORDS and _ANNOUNCEMENT.search(clause)):
            cut = colon.end()
    return text[cut:].strip(" *\"'")


def _word_pairs(text: str) -> set[tuple[str, str]]:
    words = _WORD.findall(text.lower())
    return set(itertools.pairwise(words))


def _echoes(sentence: str, prompt_pairs: set[tuple[str, str]]) -> bool:
    """Most of the sentence's consecutive word pairs appear in the bait prompt (any prompt, any model)."""
    words = _WORD.findall(sentence.lower())
    pairs = list(itertools.pairwise(words))
    if len(pairs) < 3 or not prompt_pairs:
        return False
    return sum(p in prompt_pairs for p in pairs) / len(pairs) >= ECHO_OVERLAP


def _is_chatter(sentence: str) -> bool:
    """Addressed to the user or about making a problem, rather than part of one."""
    sentence = sentence.strip(" *\"'")
    return len(sentence) <= MAX_LEAD_CHARS and any(pattern.search(sentence) for pattern in _CHATTER)


def _sized(text: str) -> tuple[str | None, str | None]:
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
