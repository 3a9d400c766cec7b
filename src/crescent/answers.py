"""Final-answer extraction, equality and majority voting.

Data generation (majority vote over sampled solutions) and evaluation (accuracy, maj@K) must agree on what
"the answer" of a solution is and when two answers are the same; otherwise the training labels and the scores
drift apart. Model output is untrusted: only the tail of a text is read, every regex is linear-time (no
nested quantifiers) and nothing is ever evaluated.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["Group", "Tally", "answers_equal", "extract_answer", "normalize_answer", "tally"]

log = logging.getLogger(__name__)

# The answer is at the end of a solution; reading only the tail bounds the cost of hostile output.
MAX_CHARS = 5_000
# Longer digit runs are not answers, and int() refuses > 4300 digits anyway.
_MAX_DIGITS = 60
# Scanning for a closing brace is linear per attempt; capping attempts keeps "\boxed{" * N linear overall.
_MAX_TRIES = 8
_MAX_SYMBOLIC = 200
_MATH_VERIFY_TIMEOUT_S = 3
_COSTLY_OP = re.compile(r"\^|!|\\(?:prod|sum|binom|choose)")
_LONG_DIGITS = re.compile(r"\d{5}")

# One number: optional sign, then mixed number | fraction | (thousands-grouped) decimal. A leading minus
# counts only when it cannot be a subtraction ("5-3" and "20 -3" hold no "-3"); "5:00 pm" is 5. Unambiguous
# alternatives keep it linear.
_NUM = re.compile(
    r"(?P<neg>(?<![\w)\]}])(?<![\d)\]}]\s)-)?(?<![\w./])(?<!\d:)"
    r"(?:(?P<whole>\d+) (?P<mnum>\d+)/(?P<mden>\d+)"
    r"|(?P<fnum>\d+) ?/ ?(?P<fden>\d+)"
    r"|(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"|\.(?P<dec>\d+))"
    r"(?![\d/])"
)
# "The answer is", "Final Answer:", "**Answer:**", "#### 18" (GSM8K's own marker).
_MARKER = re.compile(r"####|\banswer\b(?:\s?\*\*)?\s?(?:is\b|was\b|:|=)", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s?(?=[{\s])")
_TEXTCMD = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s?\{([^{}]{0,200})\}")
_FRAC = re.compile(r"\\[dt]?frac\s?\{\s?(-?[\d.,]{1,60})\s?\}\s?\{\s?(-?[\d.,]{1,60})\s?\}")
_THIN_SPACE_GROUP = re.compile(r"(?<=\d)\\,(?=\d{3})")
_NEG_DOLLAR = re.compile(r"-\s?\\?\$")
_FRAC_SHORT = re.compile(r"\\[dt]?frac(\d)(\d)")
_DROP = re.compile(
    r"\\left|\\right|\\[,!;: ]|\\\$|\\%|\^\{?\\circ\}?|\\circ|\\quad|\\[()\[\]]|\*\*|[$%]|\{,\}|\\\\"
)
# A sentence ends at a newline or at a period that is not a decimal point.
_SENTENCE_END = re.compile(r"\n|\.(?!\d)")
# After a number, a lone letter is a variable ("2x"), not a unit ("2 kg", "5cm").
_VARIABLE = re.compile(r"^[A-Za-z](?![A-Za-z])")
_NOT_UNIT = re.compile(r"[\d\\^_{}+*/=<>|\[\]-]")


def _clean(text: str) -> str:
    """Rewrite LaTeX/currency decorations into plain text so one number regex serves every source."""
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("{,}", ",")
    text = _THIN_SPACE_GROUP.sub("", _NEG_DOLLAR.sub("-", text))
    text = _TEXTCMD.sub(r" \1 ", text)
    text = _FRAC.sub(r"\1/\2", text)
    text = _FRAC_SHORT.sub(r"\1/\2", text)
    return _DROP.sub(" ", text)


def _canonical(m: re.Match[str]) -> tuple[str, Fraction] | None:
    """Keep the written form (decimal vs fraction) in one canonical spelling, so tallies read naturally."""
    g = m.groupdict()
    if sum(len(v) for v in g.values() if v) > _MAX_DIGITS + 10:
        return None
    sign = -1 if g["neg"] else 1
    if g["whole"] is not None or g["fnum"] is not None:
        num, den = (g["mnum"], g["mden"]) if g["whole"] is not None else (g["fnum"], g["fden"])
        if int(den) == 0:
            return None
        value = sign * (int(g["whole"] or 0) + Fraction(int(num), int(den)))
        return (str(value.numerator) if value.denominator == 1 else str(value)), value
    digits = (g["int"] or "0").replace(",", "")
    frac = g["frac"] or g["dec"] or ""
    try:
        dec = Decimal(f"{digits}.{frac}" if frac else digits) * sign
    except InvalidOperation:  # pragma: no cover - the regex only admits digits
        return None
    value = Fraction(dec)
    if value.denominator == 1:
        return str(value.numerator), value
    return format(dec.normalize(), "f"), value


def _numbers(text: str) -> list[re.Match[str]]:
    return list(_NUM.finditer(text))


def _after_equals(text: str) -> str:
    """In "x = 5" or "12 / 2 = 6" the result is on the right of the last '='."""
    return text.rsplit("=", 1)[-1]


def _parse(raw: str) -> tuple[str, Fraction] | None:
    if not isinstance(raw, str):
        return None
    text = _after_equals(_clean(_unbox(raw[:MAX_CHARS]) or raw[:MAX_CHARS]))
    found = _numbers(text)
    if len(found) != 1:
        return None
    m = found[0]
    rest = text[m.end() :].lstrip(" ")
    if _NOT_UNIT.search(text[: m.start()] + " " + text[m.end() :]) or _VARIABLE.match(rest):
        return None
    return _canonical(m)


def normalize_answer(raw: str) -> str | None:
    """Canonical number for a short answer string, or None if it is not (just) a number.

    Strict on purpose: "x^2+1" or "\\sqrt{2}" must not collapse to "2"; such answers stay symbolic and are
    compared by math-verify instead.
    """
    parsed = _parse(raw)
    return parsed[0] if parsed else None


def _value(answer: str) -> Fraction | None:
    parsed = _parse(answer)
    return parsed[1] if parsed else None


def _first_number(text: str) -> str | None:
    """Lenient: the first number of a marker's sentence ("The answer is 18 apples since 3*6=18")."""
    for m in _numbers(_after_equals(_clean(text))):
        result = _canonical(m)
        if result:
            return result[0]
    return None


def _braced(text: str, start: int) -> str | None:
    """Content of the brace group opening at text[start] (nested braces allowed), or None if unclosed."""
    depth = 0
    for i in range(start, min(len(text), start + MAX_CHARS)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _unbox(text: str, first: bool = False) -> str | None:
    """Content of the last (or first) well-formed \\boxed{...} (or "\\boxed 18")."""
    found = list(_BOXED.finditer(text))
    for m in (found if first else found[::-1])[:_MAX_TRIES]:
        pos = m.end()
        if pos < len(text) and text[pos] == "{":
            content = _braced(text, pos)
        else:
            word = text[pos:].split(None, 1)
            content = word[0].rstrip(".$") if word else None
        if content and content.strip():
            return content.strip()
    return None


def _from_boxed(text: str, first: bool = False) -> str | None:
    content = _unbox(text, first)
    if content is None:
        return None
    number = normalize_answer(content)
    if number is not None:
        return number
    return content if len(content) <= _MAX_SYMBOLIC else None


def _from_marker(text: str, m: re.Match[str]) -> str | None:
    """The answer in the sentence after one marker occurrence, or None to try an earlier occurrence."""
    tail = text[m.end() :].lstrip()
    end = _SENTENCE_END.search(tail)
    sentence = tail[: end.start()] if end else tail
    if "\\boxed" in sentence or "\\fbox" in sentence:
        return _from_boxed(tail, first=True)
    if m.group(0) == "####":
        # Markdown headings ("#### Step 3") also start with ####; GSM8K's marker is followed by the number.
        m_num = _NUM.match(_clean(sentence).lstrip(" *("))
        result = _canonical(m_num) if m_num else None
        return result[0] if result else None
    number = normalize_answer(sentence)
    if number is not None:
        return number
    stripped = sentence.strip().strip("*").strip()
    if stripped.startswith(("$", "\\(", "\\[")):
        math = stripped.strip("$").removeprefix("\\(").removeprefix("\\[")
        math = math.removesuffix("\\)").removesuffix("\\]").strip()
        number = normalize_answer(math)
        if number is not None:
            return number
        if math and len(math) <= _MAX_SYMBOLIC:
            return math
    return _first_number(sentence)


def extract_answer(text: str) -> str | None:
    """The final answer of a free-text solution, normalised, or None.

    Ordered like lm-eval's filters: an explicit marker (last occurrence wins) beats \\boxed{}, which beats the
    last number in the text; a chain of thought is full of intermediate numbers, so the fallback comes last.
    """
    if not isinstance(text, str) or not text:
        return None
    text = text[-MAX_CHARS:]
    for m in list(_MARKER.finditer(text))[::-1][:_MAX_TRIES]:
        answer = _from_marker(text, m)
        if answer is not None:
            return answer
    answer = _from_boxed(text)
    if answer is not None:
        return answer
    for m in reversed(_numbers(_clean(text))):
        result = _canonical(m)
        if result:
            return result[0]
    return None


def _too_costly(expr: str) -> bool:
    """Towers and big exponents/factorials ("9^{9^{9}}", "99999!") would make sympy run unbounded."""
    if expr.count("^") > 2:
        return True
    return bool(_COSTLY_OP.search(expr)) and bool(_LONG_DIGITS.search(expr))


def _math_verify_equal(a: str, b: str) -> bool:
    """Symbolic comparison for non-numeric answers.

    math-verify's timeouts use signal.alarm, which raises ValueError off the main thread (votes may be
    tallied in worker threads), so they are switched off there; _too_costly then guards against inputs
    that would make sympy run unbounded.
    """
    if _too_costly(a) or _too_costly(b):
        return False
    try:
        from math_verify import parse, verify
    except ImportError:  # pragma: no cover - math-verify is a core dependency
        return False
    limit = _MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(a if "$" in a else f"${a}$", parsing_timeout=limit)
        pred = parse(b if "$" in b else f"${b}$", parsing_timeout=limit)
        if not gold or not pred:
            return False
        return bool(verify(gold, pred, timeout_seconds=limit))
    except Exception as exc:  # math-verify/sympy raise many kinds of errors on odd input
        log.debug("math-verify failed on %r vs %r: %s", a, b, exc)
        return False


def answers_equal(a: str | None, b: str | None) -> bool:
    """Mathematical equality of two answers; never raises, and None equals nothing.

    Plain numbers are compared exactly as fractions first: it is the common case, it is instant, and it
    cannot be fooled by float rounding ("18" == "18.00" == "$18", "0.5" == "1/2", "50%" == "50").
    """
    try:
        if not isinstance(a, str) or not isinstance(b, str) or not a.strip() or not b.strip():
            return False
        if a.strip() == b.strip():
            return True
        va, vb = _value(a), _value(b)
        if va is not None and vb is not None:
            return va == vb
        if len(a) > _MAX_SYMBOLIC or len(b) > _MAX_SYMBOLIC:
            return False
        return _math_verify_equal(a, b)
    except Exception as exc:  # a vote must never crash a generation run
        log.debug("answers_equal failed on %r vs %r: %s", a, b, exc)
        return False


@dataclass(frozen=True)
class Group:
    """Answers judged equal; the representative is the first member as written."""

    answer: str
    count: int
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Tally:
    """Result of majority voting over K sampled answers."""

    groups: tuple[Group, ...]
    total: int
    extracted: int
    winner: str | None = field(init=False)
    consensus: float = field(init=False)

    def __post_init__(self) -> None:
        top = self.groups[0] if self.groups else None
        object.__setattr__(self, "winner", top.answer if top else None)
        # Unextractable samples stay in the denominator: a "majority" of 2 out of 8 is weak evidence.
        object.__setattr__(self, "consensus", top.count / self.total if top and self.total else 0.0)

    def as_counts(self) -> dict[str, int]:
        return {g.answer: g.count for g in self.groups}


def tally(answers: Sequence[str | None]) -> Tally:
    """Group answers by answers_equal and rank groups by size, ties broken by first occurrence.

    Numeric answers are bucketed by exact value; only symbolic answers (and numbers meeting a symbolic group,
    "\\sqrt{4}" vs "2") pay for math-verify. Blank strings count as unextracted, like None.
    """
    members: list[list[int]] = []
    reps: list[tuple[str, Fraction | None]] = []
    by_value: dict[Fraction, int] = {}
    for i, ans in enumerate(answers):
        if not isinstance(ans, str) or not ans.strip():
            continue
        value = _value(ans)
        gid = by_value.get(value) if value is not None else None
        if gid is None:
            candidates = (j for j, (_, rep_value) in enumerate(reps) if value is None or rep_value is None)
            gid = next((j for j in candidates if answers_equal(reps[j][0], ans)), None)
        if gid is None:
            gid = len(reps)
            reps.append((ans, value))
            members.append([])
        if value is not None:
            by_value.setdefault(value, gid)
        members[gid].append(i)
    groups = sorted(
        (Group(reps[j][0], len(idx), tuple(idx)) for j, idx in enumerate(members)),
        key=lambda g: (-g.count, g.indices[0]),
    )
    return Tally(groups=tuple(groups), total=len(answers), extracted=sum(len(idx) for idx in members))
