"""The eval statistics against hand-computed and textbook values."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from crescent.eval.stats import discordant, mcnemar_exact, paired_bootstrap_ci, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),  # the normal approximation would give the useless [0, 0]
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_is_wider_for_higher_confidence_and_rejects_bad_counts() -> None:
    low95, high95 = wilson_interval(7, 20)
    low99, high99 = wilson_interval(7, 20, z=2.576)
    assert low99 < low95 < 7 / 20 < high95 < high99
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def _table(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return np.array(a), np.array(b)


@pytest.mark.parametrize(
    ("a_only", "b_only", "p"),
    [
        (1, 6, 0.125),  # 2 * (C(7,0) + C(7,1)) / 2^7 = 16/128
        (0, 4, 0.125),  # 2 * 1 / 16
        (2, 12, 2 * 106 / 16384),  # 2 * (1 + 14 + 91) / 2^14
        (3, 3, 1.0),
        (0, 0, 1.0),  # no discordant pair: no evidence of any difference
    ],
)
@pytest.mark.parametrize("hide_scipy", [False, True])  # scipy's binomtest when installed, and math.comb
def test_mcnemar_exact_hand_computed(
    a_only: int, b_only: int, p: float, hide_scipy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hide_scipy:
        monkeypatch.setitem(sys.modules, "scipy.stats", None)  # makes "from scipy.stats import ..." fail
    a, b = _table(both=20, a_only=a_only, b_only=b_only, neither=5)
    assert discordant(a, b) == (a_only, b_only)
    assert mcnemar_exact(a, b) == pytest.approx(p, rel=1e-12)
    assert mcnemar_exact(b, a) == pytest.approx(p, rel=1e-12)  # two-sided: symmetric in A and B


def test_paired_bootstrap_degenerate_cases_are_exact() -> None:
    a, b = _table(both=10, a_only=0, b_only=0, neither=10)
    assert paired_bootstrap_ci(a, b) == (0.0, 0.0, 0.0)
    assert paired_bootstrap_ci(np.zeros(8), np.ones(8)) == (1.0, 1.0, 1.0)


def test_paired_bootstrap_matches_the_normal_approximation_on_a_large_table() -> None:
    a, b = _table(both=100, a_only=10, b_only=30, neither=60)
    diff, low, high = paired_bootstrap_ci(a, b, resamples=20_000, seed=1)
    d = b.astype(float) - a.astype(float)
    se = d.std() / np.sqrt(d.size)
    assert diff == pytest.approx(0.1)
    assert low == pytest.approx(0.1 - 1.96 * se, abs=0.006)
    assert high == pytest.approx(0.1 + 1.96 * se, abs=0.006)


def test_paired_bootstrap_agrees_with_naive_index_resampling() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(150) < 0.4
    b = rng.random(150) < 0.55
    _, low, high = paired_bootstrap_ci(a, b, resamples=10_000, seed=3)
    idx = rng.integers(0, a.size, size=(10_000, a.size))
    naive = (b.astype(float) - a.astype(float))[idx].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.quantile(naive, [0.025, 0.975])), abs=0.01)


def test_paired_bootstrap_is_seeded_and_checks_its_input() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random(40) < 0.5, rng.random(40) < 0.5
    assert paired_bootstrap_ci(a, b, seed=7) == paired_bootstrap_ci(a, b, seed=7)
    low, high = paired_bootstrap_ci(a, b, level=0.5)[1:], paired_bootstrap_ci(a, b, level=0.99)[1:]
    assert low[0] >= high[0] and low[1] <= high[1]
    with pytest.raises(ValueError):
        paired_bootstrap_ci(a, b[:-1])
    with pytest.raises(ValueError):
        paired_bootstrap_ci([], [])
