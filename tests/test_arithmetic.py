"""The stated-arithmetic checker: what it catches, what it leaves alone, and that it never evaluates code."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crescent.arithmetic import check, equations, evaluate


@pytest.mark.parametrize(
    ("text", "checked", "wrong"),
    [
        ("She has 3 * 4 = 12 apples. Then 12 + 5 = 17. The answer is 17.", 2, 0),
        ("So \\( 5 \\times 3 = 15 \\) and $1,200 / 4 = $300.", 2, 0),
        ("2 + 3 = 6", 1, 1),
        ("10/3 = 3.33", 1, 0),  # rounding the stated decimals allow
        ("10/3 = 3", 1, 1),  # an integer claims exactness
        ("Total = 5 + 2 = 7", 1, 0),
        ("20% * 50 = 10", 1, 0),
        ("(3 + 4) * 2 = 14", 1, 0),
        ("5 x 4 = 20 and 6 × 2 = 12 and 9 ÷ 3 = 3", 3, 0),
        ("\\frac{1}{2} * 8 = 4", 1, 0),
        ("2 + 3 = 5 + 1 = 6", 2, 0),  # a running total is read leniently
        ("He walks 3 miles = 5 km", 0, 0),  # no arithmetic on the left: not checked
        ("x = 5", 0, 0),
        ("12 - 4 = 9 so the answer is 9", 1, 1),
        ("Squares:\n- 1^2 = 1\n- 2^2 = 4\n- 3^2 = 9", 3, 0),  # list bullets are not minus signs
        ("1 + 4 = 5\n 5 + 9 = 14\n 14 + 16 = 30", 3, 0),  # an expression ends at its line
        ("So 13 * 78 = 1104 apples.", 1, 1),
        ("Profit 10 - 3 = 7\n- 2 = 5", 1, 0),
        ("   -  63 / 2 = 31 with a remainder of 1.", 1, 0),
        ("The area 3 * 8 = 2 * \\text{width}", 0, 0),  # the right side is not arithmetic
        ("2401 * 2401 = 576801.", 1, 1),
        ("Subtract 6: 4x + 6 - 6 = 10 - 6", 0, 0),  # the left side starts inside "4x + ..."
        ("Try n = 1: 1 * 2 * 3 = 36 \\implies 6 \\neq 36", 0, 0),  # a tested candidate, not a claim
    ],
)
def test_check_counts_stated_equations(text: str, checked: int, wrong: int) -> None:
    report = check(text)
    assert (report.checked, report.wrong) == (checked, wrong)


def test_evaluate_is_exact_and_refuses_anything_but_arithmetic() -> None:
    assert evaluate("1/3 + 1/3 + 1/3") == Fraction(1)
    assert evaluate("2^10") == 1024
    assert evaluate("__import__('os').system('true')") is None
    assert evaluate("9 ** 99999") is None  # exponent cap
    assert evaluate("10**14 * 10**14") is None  # magnitude cap
    assert evaluate("1 / 0") is None
    assert evaluate("(" * 300 + "1" + ")" * 300) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_check_never_raises_on_arbitrary_text(text: str) -> None:
    report = check(text)
    assert 0 <= report.wrong <= report.checked


def test_check_is_fast_on_hostile_input() -> None:
    report = check("1+" * 50_000 + "1 = 3 " + "9 * 9 = 81 " * 200)
    assert report.checked <= 64


def test_equations_ignore_wording_and_spacing_but_not_the_calculation() -> None:
    first = equations("She buys 3 * 4 = 12 pens, then 12 + 5 = 17.\nThe answer is 17.")
    reworded = equations("Pens: 3*4 = 12. Adding the rest, 12 + 5 = 17 in all. The answer is 17.")
    other = equations("First 4 + 5 = 9 ... no: 3 * 4 = 12, 12 + 5 = 17. The answer is 17.")
    assert first == reworded == ("3*4=12", "12+5=17")
    assert other != first and equations("The answer is 17.") == ()
