"""Check the arithmetic a solution states: every ``a op b = c`` must hold.

A majority answer reached through a wrong step is a wrong label more often than not (and a model that
agrees with itself on a miscalculation will keep agreeing). This module finds the stated equations in
model text and evaluates their left side with a tiny evaluator over Python's expression AST: numbers,
``+ - * /``, small integer powers and parentheses only. Model text is untrusted, so nothing is ever passed
to ``eval``; sizes and exponents are capped so no input can make the check slow.

Written by hand because no maintained library checks *stated* arithmetic in free text: math-verify
compares two final answers, sympy's parser evaluates far more than arithmetic (and is slow on junk).
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

MAX_EXPRESSION_CHARS = 200
MAX_EQUATIONS = 64
MAX_MAGNITUDE = Fraction(10**15)
MAX_EXPONENT = 12

_LATEX = [
    (re.compile(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}"), r"((\1)/(\2))"),
    (re.compile(r"\\(?:times|cdot)"), "*"),
    (re.compile(r"\\div"), "/"),
    (re.compile(r"\\[()\[\]]|\\left|\\right|\\!|\\,|\\ "), " "),
]
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TIMES_X = re.compile(r"(?<=[\d)])\s*[x×]\s*(?=[\d(])")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_EXPR_CHARS = re.compile(r"[\d. \t+\-*/^()]+")  # one line: an expression never spans a line break
_EXPR_TAIL = re.compile(r"[\d. \t+\-*/^()]+$")
_HYPOTHESIS = re.compile(r"\\neq|≠|!=|\\implies|\?")
_BULLET = re.compile(r"^[-*+]\s+(?=[\d(])")  # "- 3^2 = 9" is a list item, not a negative number
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")
_OPERATOR = re.compile(r"\d\s*[-+*/^]\s*[\d(]|\)\s*[-+*/^]")


@dataclass(frozen=True)
class ArithmeticReport:
    """``checked`` equations had an arithmetic left side; ``wrong`` of them did not hold."""

    checked: int
    wrong: int

    @property
    def holds(self) -> bool:
        return self.wrong == 0

    @property
    def valid(self) -> int:
        return self.checked - self.wrong


def normalize(text: str) -> str:
    """Rewrite the usual notations (LaTeX, ×, ÷, $, 1,000, 20%) as plain arithmetic."""
    for pattern, replacement in _LATEX:
        text = pattern.sub(replacement, text)
    text = text.replace("÷", "/").replace("−", "-").replace("$", "").replace("**", "^")
    text = _THOUSANDS.sub("", text)
    text = _TIMES_X.sub(" * ", text)
    return _PERCENT.sub(r"(\1/100)", text)


def evaluate(expression: str) -> Fraction | None:
    """The exact value of an arithmetic expression, or None if it is anything else (or too big)."""
    expression = expression.strip().replace("^", "**")
    if not expression or len(expression) > MAX_EXPRESSION_CHARS:
        return None
    try:
        tree = ast.parse(expression, mode="eval")
        return _value(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _value(node: ast.AST) -> Fraction | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        inner = _value(node.operand)
        return None if inner is None else (inner if isinstance(node.op, ast.UAdd) else -inner)
    if not isinstance(node, ast.BinOp):
        return None
    left, right = _value(node.left), _value(node.right)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Add):
        result = left + right
    elif isinstance(node.op, ast.Sub):
        result = left - right
    elif isinstance(node.op, ast.Mult):
        result = left * right
    elif isinstance(node.op, ast.Div):
        result = left / right
    elif isinstance(node.op, ast.Pow):
        if right.denominator != 1 or abs(right) > MAX_EXPONENT or abs(left) > MAX_MAGNITUDE:
            return None
        result = left ** int(right)
    else:
        return None
    return result if abs(result) <= MAX_MAGNITUDE else None


def _close(stated: str, actual: Fraction) -> bool:
    """Equal, allowing the rounding a stated decimal implies (3.33 for 10/3, not 3)."""
    value = Fraction(stated)
    decimals = len(stated.partition(".")[2])
    if decimals == 0:
        return value == actual
    return abs(value - actual) <= Fraction(1, 2 * 10**decimals)


def _left_side(segment: str) -> str | None:
    """The arithmetic expression that ends a segment (the text just before an '='), if any."""
    line = segment[-MAX_EXPRESSION_CHARS:].rpartition("\n")[2]
    match = _EXPR_TAIL.search(line.rstrip())
    if match is None:
        return None
    expression = match.group().strip()
    if line.strip() == expression:  # the expression is its whole line: a leading "- " is a bullet
        expression = _BULLET.sub("", expression)
    elif expression[:1] in "+-*/^)":
        return None  # it continues to the left into something else ("4x + 6 - 6", "\binom{5}{1} * 10")
    while expression.count("(") > expression.count(")"):  # "(3 + 4) * 2" seen from inside a "("
        expression = expression[expression.index("(") + 1 :]
    return expression.strip() or None


@dataclass(frozen=True)
class _Claim:
    left: str  # the arithmetic left side, as normalized text
    stated: str  # the number written after the "="
    holds: bool


def _claims(text: str) -> list[_Claim]:
    """The stated equations whose left side is arithmetic, in order (at most ``MAX_EQUATIONS``)."""
    segments = normalize(text).split("=")
    claims: list[_Claim] = []
    for before, after in itertools.pairwise(segments):
        if len(claims) >= MAX_EQUATIONS:
            break
        left = _left_side(before)
        if left is None or not _OPERATOR.search(left):
            continue
        actual = evaluate(left)
        first_line = after.strip(" \t").partition("\n")[0].strip()
        stated = _NUMBER.match(first_line)
        right = _EXPR_CHARS.match(first_line)
        if actual is None or stated is None or right is None or right.group().rstrip()[-1] in "+-*/^(":
            continue  # not "= number" nor "= arithmetic" (e.g. "= 2 * width"): nothing to check
        if _HYPOTHESIS.search(first_line):
            continue  # "1 * 2 * 3 = 36 \implies 6 \neq 36": a candidate being tested, not a claim
        if "remainder" in first_line.lower() and actual.denominator != 1:
            actual = Fraction(int(actual))  # "7 / 2 = 3 with a remainder of 1": integer division
        holds = _close(stated.group(), actual) or evaluate(right.group()) == actual
        claims.append(_Claim(left, stated.group(), holds))
    return claims


def check(text: str) -> ArithmeticReport:
    """Count the stated equations whose left side is arithmetic, and those that do not hold."""
    claims = _claims(text)
    return ArithmeticReport(len(claims), sum(not claim.holds for claim in claims))


def equations(text: str) -> tuple[str, ...]:
    """The solution's stated equations in order, spacing removed ("3 * 4 = 12" -> "3*4=12").

    Two solutions with the same equations take the same reasoning path whatever their wording: RFT
    (arXiv 2308.01825) counts distinct paths this way, by the list of equations.
    """
    return tuple(f"{_SPACES.sub('', claim.left)}={claim.stated}" for claim in _claims(text))
